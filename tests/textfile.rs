//! `Registry::write_textfile`: text 0.0.4 written atomically for node_exporter's textfile
//! collector; the result passes `promtool check metrics`.

mod support;

use support::{Peer, PromtoolOutcome, TempDir};
use tachymeter::{Counter, Format, Info, Registry, TextfileError};

#[test]
fn writes_text_atomically_and_replaces_the_previous_file() {
    let dir = TempDir::new("textfile");
    let path = dir.path().join("backup.prom");
    let r = Registry::new();
    let c = Counter::builder("backup_runs_total", "Backups run.")
        .register(&r)
        .unwrap();
    c.inc_with_exemplar(&[("trace_id", "x")]);
    Info::builder("backup_build", "Build.")
        .register(&r)
        .unwrap()
        .set(&[("version", "1")])
        .unwrap();
    r.write_textfile(&path).unwrap();
    let first = std::fs::read_to_string(&path).unwrap();
    assert_eq!(first, r.encode_to_string(Format::Text));
    assert!(!first.contains("_created") && !first.contains(" # {") && !first.contains("EOF"));

    c.inc();
    r.write_textfile(&path).unwrap();
    let second = std::fs::read_to_string(&path).unwrap();
    assert!(second.contains("backup_runs_total 2\n"), "{second}");
    // Only the target remains: no temporary files left behind.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["backup.prom"]);

    if support::have(&[Peer::Promtool]) {
        assert_eq!(support::promtool_check(&second), PromtoolOutcome::Clean);
    }
}

#[test]
fn errors_are_typed_and_leave_nothing_behind() {
    let r = Registry::new();
    assert!(matches!(
        r.write_textfile("/"),
        Err(TextfileError::InvalidPath(_))
    ));
    let dir = TempDir::new("textfile-missing");
    let missing = dir.path().join("no/such/dir/x.prom");
    match r.write_textfile(&missing) {
        Err(TextfileError::Io { path, .. }) => assert!(path.starts_with(dir.path())),
        other => panic!("{other:?}"),
    }
    // A directory in the way of the rename: the temp file is cleaned up.
    let blocked = dir.path().join("blocked.prom");
    std::fs::create_dir(&blocked).unwrap();
    std::fs::write(blocked.join("inside"), b"x").unwrap();
    assert!(matches!(
        r.write_textfile(&blocked),
        Err(TextfileError::Io { .. })
    ));
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(left, ["blocked.prom"], "{left:?}");
}
