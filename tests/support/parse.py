"""Parse an exposition body from stdin with prometheus_client's reference parsers.

Usage: python parse.py text|openmetrics < body

Protocol (read by tests/support/mod.rs):
  exit 0: one JSON object per line on stdout, one per metric family:
          {"name", "type", "help", "unit",
           "samples": [{"name", "labels": [[k, v], ...] (sorted),
                        "value": "<repr(float)>", "timestamp": null | "<repr(float seconds)>",
                        "exemplar": null | {"labels": [[k, v], ...], "value": "...", "timestamp": null | "..."}}]}
          Floats travel as Python repr strings ("inf", "-inf", "nan", "1e-05") so
          that non-finite values survive; timestamps are in seconds for both formats.
  exit 2: the parser rejected the body; the reason is on stdout.
  other:  the harness itself is broken (bad usage, import error): the Rust side panics.
"""
import json
import sys


def num(x):
    return None if x is None else repr(float(x))


def labels(d):
    return sorted([str(k), str(v)] for k, v in (d or {}).items())


def main():
    if len(sys.argv) != 2 or sys.argv[1] not in ("text", "openmetrics"):
        print("usage: parse.py text|openmetrics < body", file=sys.stderr)
        return 64
    if sys.argv[1] == "text":
        from prometheus_client.parser import text_string_to_metric_families
    else:
        from prometheus_client.openmetrics.parser import text_string_to_metric_families

    raw = sys.stdin.buffer.read()
    try:
        body = raw.decode("utf-8")
        # Both parsers are generators: exhaust them before printing anything,
        # so a body that fails half-way yields an error and no families.
        families = list(text_string_to_metric_families(body))
    except Exception as e:  # the parsers raise ValueError, and others on odd input
        print(f"{type(e).__name__}: {e}")
        return 2

    out = []
    for f in families:
        samples = []
        for s in f.samples:
            ex = getattr(s, "exemplar", None)
            samples.append({
                "name": s.name,
                "labels": labels(s.labels),
                "value": num(s.value),
                "timestamp": num(s.timestamp),
                "exemplar": None if ex is None else {
                    "labels": labels(ex.labels),
                    "value": num(ex.value),
                    "timestamp": num(ex.timestamp),
                },
            })
        out.append(json.dumps({
            "name": f.name,
            "type": f.type,
            "help": f.documentation,
            "unit": getattr(f, "unit", "") or "",
            "samples": samples,
        }, ensure_ascii=True))
    sys.stdout.write("".join(line + "\n" for line in out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
