//! The Debian package, built by plain `cargo deb` (from the debug build the suite already made)
//! and checked with dpkg's own tools: control fields, file list, conffiles, the unit under
//! systemd-analyze, the completion script sourced by bash, the man page, and the shipped config
//! refused by the packaged binary for its CHANGE-ME values, at their lines. What the package
//! ships generated from the binary is committed in debian/assets/, checked to be up to date.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;

fn run(command: &mut Command) -> String {
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{command:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Builds the package with plain `cargo deb`, as a packager does: no wrapper generates anything
/// first. Into `out`; returns the .deb.
fn deb(out: &Path) -> PathBuf {
    // The test binary's target directory: where the debug build is.
    let target = binary().parent().unwrap().parent().unwrap().to_path_buf();
    run(Command::new("cargo")
        .args([
            "deb",
            "--no-build",
            "--profile",
            "dev",
            "--fast",
            "--no-strip",
        ])
        .args(["-p", "privatelinkd", "-o"])
        .arg(out)
        .env("CARGO_TARGET_DIR", &target));
    let mut debs: Vec<PathBuf> = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "deb"))
        .collect();
    assert_eq!(debs.len(), 1, "{debs:?}");
    debs.remove(0)
}

/// `text` without the ` (commit ...)` of a version: the committed man page names the package's
/// version, not the build that generated it.
fn without_commit(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(" (commit ") {
        out += &rest[..at];
        rest = &rest[at..];
        rest = &rest[rest.find(')').map_or(rest.len(), |end| end + 1)..];
    }
    out + rest
}

#[test]
fn the_committed_debian_assets_are_what_the_binary_and_the_unit_generate() {
    let bin = binary();
    let output = |args: &[&str]| run(Command::new(&bin).args(args));
    let unit = std::fs::read_to_string("systemd/privatelinkd.service")
        .unwrap()
        .replace("/usr/local/bin/privatelinkd", "/usr/bin/privatelinkd")
        .replace(
            "/usr/local/share/doc/privatelinkd",
            "/usr/share/doc/privatelinkd",
        );
    let expected = [
        ("privatelinkd.service", unit),
        ("privatelinkd.bash", output(&["completions", "bash"])),
        ("_privatelinkd", output(&["completions", "zsh"])),
        ("privatelinkd.fish", output(&["completions", "fish"])),
        ("privatelinkd.1", without_commit(&output(&["man"]))),
    ];
    for (file, want) in expected {
        let path = Path::new("debian/assets").join(file);
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            have == want,
            "{} is not what the binary generates: run scripts/package --assets and commit it",
            path.display()
        );
    }
}

#[test]
fn the_debian_package_installs_a_working_daemon_that_refuses_its_sample_config() {
    let out = tempfile::tempdir().unwrap();
    let deb = deb(out.path());
    let field = |name: &str| run(Command::new("dpkg-deb").args(["-f"]).arg(&deb).arg(name));
    assert_eq!(field("Package").trim(), "privatelinkd");
    assert_eq!(field("Version").trim(), "0.1.0-1");
    assert_eq!(field("Section").trim(), "net");
    assert!(field("Depends").contains("libc6"));
    assert!(field("Maintainer").contains('@'));

    let files = run(Command::new("dpkg-deb").arg("-c").arg(&deb));
    for path in [
        "./usr/bin/privatelinkd",
        "./lib/systemd/system/privatelinkd.service",
        "./etc/privatelinkd/privatelinkd.yaml",
        "./usr/share/bash-completion/completions/privatelinkd",
        "./usr/share/zsh/vendor-completions/_privatelinkd",
        "./usr/share/fish/vendor_completions.d/privatelinkd.fish",
        "./usr/share/man/man1/privatelinkd.1.gz",
        "./usr/share/doc/privatelinkd/README.md",
        "./usr/share/privatelinkd/privatelinkd.schema.json",
    ] {
        assert!(
            files.contains(&format!("{path}\n")),
            "{path} missing:\n{files}"
        );
    }
    let control = tempfile::tempdir().unwrap();
    run(Command::new("dpkg-deb")
        .arg("-e")
        .arg(&deb)
        .arg(control.path()));
    let conffiles = std::fs::read_to_string(control.path().join("conffiles")).unwrap();
    assert_eq!(conffiles.trim(), "/etc/privatelinkd/privatelinkd.yaml");
    let postinst = std::fs::read_to_string(control.path().join("postinst")).unwrap();
    assert!(postinst.contains("mkdir -p /etc/privatelinkd/endpoints"));

    // Installed into a throwaway root.
    let root = tempfile::tempdir().unwrap();
    run(Command::new("dpkg").arg("-x").arg(&deb).arg(root.path()));
    let at = |p: &str| root.path().join(p.trim_start_matches('/'));
    let bin = at("/usr/bin/privatelinkd");
    let version = run(Command::new(&bin).arg("--version"));
    assert!(
        version.starts_with("privatelinkd 0.1.0 (commit "),
        "{version}"
    );

    // The sample config as shipped is refused, each placeholder at its line.
    let config = at("/etc/privatelinkd/privatelinkd.yaml");
    let out = Command::new(&bin)
        .args(["validate", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let shown = config.display().to_string();
    assert!(
        stderr.contains(&format!(
            "{shown}:8:10: error: ownerId is still the placeholder `CHANGE-ME`"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "{shown}:12:14: error: tidbCloud.publicKey is still the placeholder"
        )),
        "{stderr}"
    );

    // The unit, pointed at the unpacked binary, verifies (DynamicUser, StateDirectory...).
    let unit = std::fs::read_to_string(at("/lib/systemd/system/privatelinkd.service")).unwrap();
    assert!(unit.contains(
        "ExecStart=/usr/bin/privatelinkd run --config /etc/privatelinkd/privatelinkd.yaml"
    ));
    assert!(unit.contains("DynamicUser=yes") && unit.contains("StateDirectory=privatelinkd"));
    let units = tempfile::tempdir().unwrap();
    let path = units.path().join("privatelinkd.service");
    std::fs::write(
        &path,
        unit.replace("/usr/bin/privatelinkd", bin.to_str().unwrap()),
    )
    .unwrap();
    let verify = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&verify.stderr);
    assert!(
        verify.status.success() && stderr.trim().is_empty(),
        "{stderr}"
    );

    // bash sources the completion script and completes subcommands and flags.
    let script = at("/usr/share/bash-completion/completions/privatelinkd");
    let completed = run(Command::new("bash").arg("-c").arg(format!(
        "source {} && COMP_WORDS=(privatelinkd pl) && COMP_CWORD=1 && _privatelinkd privatelinkd pl privatelinkd && echo \"${{COMPREPLY[@]}}\" && COMP_WORDS=(privatelinkd plan --detailed) && COMP_CWORD=2 && _privatelinkd privatelinkd --detailed plan && echo \"${{COMPREPLY[@]}}\"",
        script.display()
    )));
    assert!(
        completed.lines().next().unwrap().contains("plan"),
        "{completed}"
    );
    assert!(completed.contains("--detailed-exitcode"), "{completed}");

    // The man page is roff, generated from the command line.
    let man = run(Command::new("sh").arg("-c").arg(format!(
        "gzip -dc {}",
        at("/usr/share/man/man1/privatelinkd.1.gz").display()
    )));
    assert!(man.contains(".TH privatelinkd 1"), "{man}");
    assert!(man.contains("completions"), "{man}");
}
