//! The `meshroute` command over its real binary. The transcripts in `tests/cli/*.md` are
//! snapshots of help, outputs and exit codes (commands run in `tests/cli/`; refresh them with
//! `TRYCMD=overwrite cargo test --features cli --test cli` and read the diff); the tests below
//! check what a snapshot cannot: SARIF's required fields, stdin, and a reader that goes away.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_meshroute");

fn cli_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cli")
}

#[test]
fn transcripts() {
    trycmd::TestCases::new()
        .default_bin_name("meshroute")
        .env("NO_COLOR", "1")
        .case("tests/cli/*.md")
        .case("tests/cli/*.toml");
}

/// SARIF 2.1.0's required properties (the OASIS schema's `required` lists for sarifLog, run,
/// tool, toolComponent, result, message, location, physicalLocation, artifactLocation and
/// region), and a location per finding with the file, the line and the field path.
#[test]
fn sarif_has_what_the_schema_requires() {
    let out = Command::new(BIN)
        .args(["analyze", "-o", "sarif", "findings.yaml"])
        .current_dir(cli_dir())
        .output()
        .expect("meshroute runs");
    assert_eq!(
        out.status.code(),
        Some(0),
        "warnings do not fail by default"
    );
    let log: serde_json::Value = serde_json::from_slice(&out.stdout).expect("SARIF is JSON");
    assert_eq!(log["version"], "2.1.0");
    let runs = log["runs"].as_array().expect("runs is an array");
    assert_eq!(runs.len(), 1);
    let driver = &runs[0]["tool"]["driver"];
    assert_eq!(driver["name"], "meshroute");
    let rules = driver["rules"].as_array().expect("rules");
    for r in rules {
        assert!(r["id"].is_string(), "{r}");
    }
    let results = runs[0]["results"].as_array().expect("results");
    assert_eq!(results.len(), 2);
    for r in results {
        assert!(r["message"]["text"].is_string(), "{r}");
        let rule = r["ruleId"].as_str().expect("ruleId");
        let index = r["ruleIndex"].as_u64().expect("ruleIndex") as usize;
        assert_eq!(rules[index]["id"], rule);
        assert!(["none", "note", "warning", "error"].contains(&r["level"].as_str().unwrap()));
        let loc = &r["locations"][0];
        assert_eq!(
            loc["physicalLocation"]["artifactLocation"]["uri"],
            "findings.yaml"
        );
        let region = &loc["physicalLocation"]["region"];
        assert!(region["startLine"].as_u64().unwrap() >= 1, "{r}");
        assert!(region["startColumn"].as_u64().unwrap() >= 1, "{r}");
        let name = loc["logicalLocations"][0]["fullyQualifiedName"]
            .as_str()
            .unwrap();
        assert!(
            name.starts_with("VirtualService shop/ratings: spec.http["),
            "{name}"
        );
    }
    assert_eq!(results[0]["ruleId"], "undefined-subset");
    assert_eq!(
        results[0]["locations"][0]["physicalLocation"]["region"]["startLine"],
        10
    );
}

/// `meshroute check -`: the configuration on stdin, as `kubectl get -o yaml | meshroute check -`.
#[test]
fn check_reads_stdin() {
    let mut child = Command::new(BIN)
        .args(["check", "-"])
        .current_dir(cli_dir())
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("meshroute runs");
    let typo = std::fs::read(cli_dir().join("typo.yaml")).unwrap();
    child.stdin.take().unwrap().write_all(&typo).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with("<stdin>:11:7: error: VirtualService shop/reviews: spec.http[0].route[0].destnation: unknown field `destnation`"),
        "{text}"
    );
    assert!(text.contains("did you mean `destination`?"), "{text}");
}

/// `meshroute decide ... | head -1`: the reader goes away after one line; decide ends quietly
/// with status 0 instead of dying on the broken pipe.
#[test]
fn decide_ends_quietly_when_the_reader_goes_away() {
    let mut child = Command::new(BIN)
        .args(["decide", "clean.yaml"])
        .current_dir(cli_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("meshroute runs");
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let line = b"{\"request\": {\"authority\": \"reviews\", \"source_namespace\": \"shop\"}}\n";
        // Enough lines to fill the pipe many times over; the writes fail once decide is gone.
        for _ in 0..200_000 {
            if stdin.write_all(line).is_err() {
                break;
            }
        }
    });
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.contains("\"status\":200"), "{first}");
    // stdout is dropped here: the next write of decide gets EPIPE.
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
