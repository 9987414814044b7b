//! Supervision: when a core task of the node dies, `emsd` exits non-zero with a log line naming
//! it (so that systemd restarts it) instead of serving 503s or silently no longer relaying.
//! The fault is injected with `EMSD_FAULT_INJECT`, which aborts the real task.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn run_with_fault(task: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("emsd.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_emsd"))
        .arg("run")
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args(["--listen", "/ip4/127.0.0.1/tcp/0", "--api", "127.0.0.1:0"])
        .env("EMSD_FAULT_INJECT", task)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("emsd starts");
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "emsd kept running with its {task} task dead:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(25));
    };
    (status.code(), std::fs::read_to_string(&log).unwrap())
}

#[test]
fn a_dead_core_task_makes_emsd_exit_non_zero_naming_the_task() {
    for task in ["swarm", "dispatcher", "writer"] {
        let (code, log) = run_with_fault(task);
        assert_eq!(code, Some(1), "{task}: exit code\n{log}");
        let line = log
            .lines()
            .find(|l| l.contains("core task failed; exiting"))
            .unwrap_or_else(|| panic!("{task}: no supervision line in\n{log}"));
        assert!(
            line.contains(&format!("task=\"{task}\"")) || line.contains(&format!("task={task}")),
            "{task}: {line}"
        );
    }
}

#[test]
fn an_unknown_fault_name_is_a_configuration_error() {
    let (code, log) = run_with_fault("kernel");
    assert_eq!(code, Some(2), "{log}");
    assert!(log.contains("EMSD_FAULT_INJECT"), "{log}");
}
