//! Supervision of the node's core tasks (swarm, dispatcher, writer).
//!
//! Each runs as its own tokio task; a watcher awaits it. If one ends while the node is not
//! shutting down (a panic, or a return nobody asked for), the watcher logs the task's name and
//! records a [`TaskFailure`], which [`crate::Node::failed`] hands to the daemon: `emsd` then
//! exits non-zero, so that systemd restarts it, rather than answering `503` forever or
//! silently no longer relaying.

use crate::config::Task;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How long a task that returned waits before it is reported, so that a task that died and
/// took it down is reported first.
const CONSEQUENCE_DELAY: Duration = Duration::from_millis(200);
/// How long after start an injected fault aborts its task.
const FAULT_DELAY: Duration = Duration::from_millis(300);

/// A core task that ended while the node was running.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the {} task ended unexpectedly: {reason}", task.name())]
pub struct TaskFailure {
    /// Which task.
    pub task: Task,
    /// Its panic message, or how it ended.
    pub reason: String,
}

/// Watches the core tasks and remembers the first that failed.
pub(crate) struct Supervisor {
    stopping: Arc<AtomicBool>,
    failed: watch::Sender<Option<TaskFailure>>,
    inject: Option<Task>,
}

impl Supervisor {
    pub(crate) fn new(inject: Option<Task>) -> Self {
        Supervisor {
            stopping: Arc::default(),
            failed: watch::channel(None).0,
            inject,
        }
    }

    /// Watches a spawned core task; the returned handle ends when the task has ended.
    pub(crate) fn watch(&self, task: Task, handle: JoinHandle<()>) -> JoinHandle<()> {
        if self.inject == Some(task) {
            let abort = handle.abort_handle();
            tracing::warn!(task = task.name(), "fault injection: aborting the task");
            tokio::spawn(async move {
                tokio::time::sleep(FAULT_DELAY).await;
                abort.abort();
            });
        }
        let stopping = self.stopping.clone();
        let failed = self.failed.clone();
        tokio::spawn(async move {
            let reason = match handle.await {
                Ok(()) => {
                    // A task that returns usually does so because another one died (the
                    // dispatcher when the swarm is gone): let the root cause be named first.
                    tokio::time::sleep(CONSEQUENCE_DELAY).await;
                    "it returned".to_string()
                }
                Err(e) if e.is_panic() => panic_message(e.into_panic()),
                Err(e) => e.to_string(),
            };
            if stopping.load(Ordering::SeqCst) {
                return;
            }
            tracing::error!(task = task.name(), %reason, "core task ended unexpectedly");
            failed.send_if_modified(|first| {
                let new = first.is_none();
                if new {
                    *first = Some(TaskFailure { task, reason });
                }
                new
            });
        })
    }

    /// From now on, tasks ending is expected.
    pub(crate) fn stopping(&self) {
        self.stopping.store(true, Ordering::SeqCst);
    }

    /// Resolves with the first failure; never, if no core task fails.
    pub(crate) async fn failed(&self) -> TaskFailure {
        let mut rx = self.failed.subscribe();
        let failure = match rx.wait_for(Option::is_some).await {
            Ok(failure) => failure.clone(),
            Err(_) => None,
        };
        match failure {
            Some(failure) => failure,
            None => std::future::pending().await,
        }
    }
}

fn panic_message(panic: Box<dyn std::any::Any + Send>) -> String {
    match panic.downcast::<String>() {
        Ok(s) => format!("panicked: {s}"),
        Err(panic) => match panic.downcast::<&'static str>() {
            Ok(s) => format!("panicked: {s}"),
            Err(_) => "panicked".to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_task_is_reported_by_name_and_message() {
        let supervisor = Supervisor::new(None);
        let _ok = supervisor.watch(Task::Swarm, tokio::spawn(std::future::pending()));
        let _bad = supervisor.watch(Task::Writer, tokio::spawn(async { panic!("disk on fire") }));
        let failure = supervisor.failed().await;
        assert_eq!(failure.task, Task::Writer);
        assert_eq!(failure.reason, "panicked: disk on fire");
    }

    #[tokio::test]
    async fn tasks_ending_during_shutdown_are_not_failures() {
        let supervisor = Supervisor::new(None);
        supervisor.stopping();
        supervisor
            .watch(Task::Dispatcher, tokio::spawn(async {}))
            .await
            .unwrap();
        let failed = tokio::time::timeout(Duration::from_millis(100), supervisor.failed()).await;
        assert!(failed.is_err(), "no failure reported");
    }

    #[tokio::test]
    async fn an_injected_fault_aborts_the_named_task() {
        let supervisor = Supervisor::new(Some(Task::Dispatcher));
        let _swarm = supervisor.watch(Task::Swarm, tokio::spawn(std::future::pending()));
        let _dispatcher = supervisor.watch(Task::Dispatcher, tokio::spawn(std::future::pending()));
        let failure = supervisor.failed().await;
        assert_eq!(failure.task, Task::Dispatcher);
        assert!(failure.reason.contains("cancelled"), "{failure}");
    }
}
