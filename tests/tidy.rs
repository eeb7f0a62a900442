//! Checks that keep the architecture true: every source file says what it owns, the shim knows
//! nothing of PTYs or ssh, and only the argv module builds ssh command lines.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn sources() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in ["src", "daemon/src", "shim/src"] {
        rust_files(&root().join(dir), &mut files);
    }
    files
}

#[test]
fn every_source_file_opens_with_a_module_doc() {
    let missing: Vec<String> = sources()
        .into_iter()
        .filter(|f| {
            let text = std::fs::read_to_string(f).unwrap();
            !text.lines().take(5).any(|l| l.starts_with("//!"))
        })
        .map(|f| f.display().to_string())
        .collect();
    assert!(missing.is_empty(), "files without a //! doc: {missing:?}");
}

#[test]
fn the_shim_depends_on_no_pty_or_ssh_code() {
    let manifest = std::fs::read_to_string(root().join("shim/Cargo.toml")).unwrap();
    assert!(
        !manifest.contains("pty-process"),
        "shim/Cargo.toml names pty-process"
    );
    let mut files = Vec::new();
    rust_files(&root().join("shim/src"), &mut files);
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        assert!(
            !text.contains("ssh_mcp_core::ssh"),
            "{} uses the ssh module",
            f.display()
        );
    }
}

#[test]
fn only_the_argv_module_builds_ssh_command_lines() {
    for f in sources() {
        if f.ends_with("src/ssh/argv.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        for needle in ["\"-S\"", "\"ControlMaster", "\"-tt\"", "Argv {"] {
            assert!(
                !text.contains(needle),
                "{} builds ssh arguments ({needle})",
                f.display()
            );
        }
    }
}

#[test]
fn only_the_grpc_layer_of_the_daemon_touches_wire_types() {
    let mut files = Vec::new();
    rust_files(&root().join("daemon/src"), &mut files);
    for f in files {
        if f.components().any(|c| c.as_os_str() == "grpc") {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        assert!(
            !text.contains("ssh_mcp_core::pb"),
            "{} uses generated protobuf types",
            f.display()
        );
    }
}

/// Shutdown waits for the `commands` and `connections` trackers; a task spawned beside them would
/// outlive it unseen (a tracker's own `.spawn_blocking` is fine).
#[test]
fn every_daemon_task_is_spawned_on_a_shutdown_tracker() {
    let mut files = Vec::new();
    rust_files(&root().join("daemon/src"), &mut files);
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for needle in [
            "tokio::spawn",
            "tokio::task::spawn",
            " spawn_blocking",
            "::spawn_blocking",
        ] {
            assert!(
                !text.contains(needle),
                "{} calls {needle}: spawn on Shutdown's commands or connections tracker",
                f.display()
            );
        }
    }
}

/// The connection layer sits below every capability and below the daemon's wiring: it is handed
/// the pool, never the whole `Daemon`, so that it can be read (and changed) on its own.
#[test]
fn the_connection_layer_uses_no_capability_and_no_daemon_state() {
    let mut files = Vec::new();
    rust_files(&root().join("daemon/src/connection"), &mut files);
    assert!(!files.is_empty(), "daemon/src/connection holds no files");
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for layer in [
            "state",
            "exec",
            "sessions",
            "files",
            "search",
            "transfers",
            "forwards",
            "recovery",
            "grpc",
        ] {
            let needle = format!("crate::{layer}::");
            assert!(
                !text.contains(&needle),
                "{} uses {needle}: the connection layer takes what it needs as arguments",
                f.display()
            );
        }
    }
}
