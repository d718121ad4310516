//! Module implementing atomic textfile output for node_exporter's textfile collector. See
//! [`Registry::write_textfile`].

use std::ffi::OsString;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::encode::Format;
use crate::error::TextfileError;
use crate::registry::Registry;

/// Makes temporary file names unique between threads of this process.
static SEQUENCE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl Registry {
    /// Writes the registry in the text format 0.0.4 to `path`, atomically, for
    /// node_exporter's textfile collector (`--collector.textfile.directory`, files ending in
    /// `.prom`): the body goes to a temporary file in the same directory (named
    /// `.<file name>.<pid>.<n>.tmp`, which the collector ignores), is flushed to disk, and
    /// is renamed over `path`, so a reader sees the old file or the new one, never a part.
    ///
    /// ```
    /// use tachymeter::{Counter, Registry};
    /// let dir = std::env::temp_dir().join(format!("tachymeter-doc-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir)?;
    /// let registry = Registry::new();
    /// Counter::builder("backup_runs_total", "Backups run.").register(&registry)?.inc();
    /// let path = dir.join("backup.prom");
    /// registry.write_textfile(&path)?;
    /// assert!(std::fs::read_to_string(&path)?.ends_with("backup_runs_total 1\n"));
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`TextfileError::InvalidPath`] for a path without a file name,
    /// [`TextfileError::Encode`] when a custom collector fails, [`TextfileError::Io`] when
    /// the file cannot be created, written, synced or renamed (the temporary file is removed
    /// and `path` is left as it was).
    pub fn write_textfile(&self, path: impl AsRef<Path>) -> Result<(), TextfileError> {
        let path = path.as_ref();
        let (Some(name), Some(dir)) = (path.file_name(), path.parent()) else {
            return Err(TextfileError::InvalidPath(path.to_path_buf()));
        };
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        let mut body = Vec::new();
        self.encode(Format::Text, &mut body)
            .map_err(TextfileError::Encode)?;

        let mut tmp_name = OsString::from(".");
        tmp_name.push(name);
        // Relaxed: only uniqueness matters.
        let n = SEQUENCE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tmp_name.push(format!(".{}.{n}.tmp", std::process::id()));
        let tmp = dir.join(tmp_name);
        let io = |path: &Path| {
            let path: PathBuf = path.to_path_buf();
            move |source| TextfileError::Io { path, source }
        };
        let written = (|| {
            let mut f = File::create(&tmp).map_err(io(&tmp))?;
            f.write_all(&body).map_err(io(&tmp))?;
            f.sync_all().map_err(io(&tmp))?;
            fs::rename(&tmp, path).map_err(io(path))
        })();
        if written.is_err() {
            // Best effort: the error that matters is the one returned.
            let _ = fs::remove_file(&tmp);
            return written;
        }
        // Make the rename itself durable.
        File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
    }
}
