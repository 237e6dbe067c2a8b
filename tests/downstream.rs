//! A crate outside this workspace, `tests/downstream`, depends on meshroute with no features and
//! embeds it as the README shows; this test builds it and checks what it prints, for a good
//! configuration and for bad ones (the error as text, exit status 1).
//!
//! It shares this build's target directory, so only meshroute without features (and the
//! dependencies whose features differ) compile for it, and the parent's `Cargo.lock` is
//! copied beside it, so it uses the versions tested here and needs no registry access.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `target/` of this build: the test binary is `target/<profile>/deps/downstream-<hash>`.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary has a path");
    let dir = exe
        .ancestors()
        .nth(3)
        .expect("target/<profile>/deps/<binary>");
    dir.to_path_buf()
}

/// Builds the downstream crate and returns its binary.
fn build() -> PathBuf {
    let crate_dir = root().join("tests/downstream");
    std::fs::copy(root().join("Cargo.lock"), crate_dir.join("Cargo.lock"))
        .expect("copy Cargo.lock beside the downstream crate");
    let target = target_dir();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .args(["build", "--quiet", "--manifest-path"])
        .arg(crate_dir.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .expect("run cargo");
    assert!(
        out.status.success(),
        "the downstream crate does not build:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bin = target.join("debug").join(format!(
        "meshroute-downstream{}",
        std::env::consts::EXE_SUFFIX
    ));
    assert!(bin.is_file(), "{} was not built", bin.display());
    bin
}

fn run(bin: &Path, config: Option<&str>) -> (Output, String, String) {
    let dir = std::env::temp_dir().join(format!("meshroute-downstream-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut cmd = Command::new(bin);
    if let Some(text) = config {
        let path = dir.join("bad.yaml");
        std::fs::write(&path, text).expect("write config");
        cmd.current_dir(&dir).arg("bad.yaml");
    }
    let out = cmd.output().expect("run the downstream binary");
    let _ = std::fs::remove_dir_all(&dir);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out, stdout, stderr)
}

#[test]
fn a_downstream_crate_embeds_meshroute_as_the_readme_shows() {
    let bin = build();

    let (out, stdout, stderr) = run(&bin, None);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        stdout,
        "status 200 route jason -> reviews.default.svc.cluster.local subset v2\n"
    );

    // An invalid resource: compile's `Errors`, every error on its own line, as text.
    let (out, stdout, stderr) = run(
        &bin,
        Some(
            "apiVersion: networking.istio.io/v1\n\
             kind: VirtualService\n\
             metadata: {name: reviews, namespace: default}\n\
             spec:\n  hosts: [reviews]\n  http:\n\
             \x20 - route:\n\
             \x20   - {destination: {host: reviews, subset: v1}, weight: -5}\n\
             \x20   - {destination: {host: reviews, subset: v2}, weight: -3}\n",
        ),
    );
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert_eq!(stdout, "");
    assert_eq!(
        stderr,
        "Error: bad.yaml: VirtualService default/reviews: spec.http[0].route[0].weight: \
         weight -5 is negative; weights are relative and must be 0 or more\n\
         bad.yaml: VirtualService default/reviews: spec.http[0].route[1].weight: \
         weight -3 is negative; weights are relative and must be 0 or more\n"
    );

    // Broken YAML: the loader's `Error`, converted by `?`, as text.
    let (out, stdout, stderr) = run(&bin, Some("kind: [\n"));
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    // The parser's own words follow the position; they are serde-saphyr's to change.
    assert!(
        stderr.starts_with("Error: bad.yaml: line 1 column 7: "),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(!stderr.contains("Inner {"), "{stderr}");
}
