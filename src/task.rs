//! A named background job for the UI: it runs on its own thread, leaves its result in a slot the
//! UI polls once per frame, and wakes the UI when it is done, so a result never waits for the
//! next mouse move. What every file dialog, file read and export in the GUI runs through.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, TryRecvError, channel};

/// Wakes the UI (an egui `request_repaint`); called from the job's thread when it finishes.
pub type Wake = Arc<dyn Fn() + Send + Sync>;

/// What [`Task::poll`] found.
#[derive(Debug, PartialEq)]
pub enum Poll<T> {
    /// Still running.
    Pending,
    /// Finished with this result (returned once; later polls say [`Poll::Gone`]).
    Ready(T),
    /// The job ended without a result (it panicked), or its result was already taken.
    Gone,
}

/// A running job with a result of type `T`.
pub struct Task<T> {
    name: &'static str,
    rx: Receiver<T>,
}

impl<T: Send + 'static> Task<T> {
    /// Starts `job` on a thread named `name`; `wake` runs once the result is in the slot (or the
    /// job panicked). The error is the OS refusing a thread, with the job's name.
    pub fn spawn(
        name: &'static str,
        wake: Wake,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<Self, String> {
        let (tx, rx) = channel();
        std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                // Woken also when `job` panics: the guard runs during unwinding.
                struct WakeOnDrop(Wake);
                impl Drop for WakeOnDrop {
                    fn drop(&mut self) {
                        (self.0)();
                    }
                }
                // Declared before `tx` so it drops after it: the UI, once woken, finds either the
                // result or the closed channel, never an empty slot.
                let _wake = WakeOnDrop(wake);
                let tx = tx;
                let _ = tx.send(job());
            })
            .map_err(|e| format!("cannot start {name}: {e}"))?;
        Ok(Self { name, rx })
    }
}

impl<T> Task<T> {
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Waits up to `timeout` for the result (on exit, for jobs that must not be cut off).
    pub fn wait(&mut self, timeout: std::time::Duration) -> Poll<T> {
        match self.rx.recv_timeout(timeout) {
            Ok(v) => Poll::Ready(v),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Poll::Pending,
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => Poll::Gone,
        }
    }

    /// The result if the job has finished; never blocks.
    pub fn poll(&mut self) -> Poll<T> {
        match self.rx.try_recv() {
            Ok(v) => Poll::Ready(v),
            Err(TryRecvError::Empty) => Poll::Pending,
            Err(TryRecvError::Disconnected) => Poll::Gone,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Duration, Instant};

    fn counter() -> (Arc<AtomicUsize>, Wake) {
        let n = Arc::new(AtomicUsize::new(0));
        let m = Arc::clone(&n);
        (
            n,
            Arc::new(move || {
                m.fetch_add(1, Ordering::SeqCst);
            }),
        )
    }

    fn wait_for<T>(t: &mut Task<T>) -> Poll<T> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match t.poll() {
                Poll::Pending if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(2))
                }
                other => return other,
            }
        }
    }

    #[test]
    fn the_result_arrives_once_and_the_ui_is_woken() {
        let (woken, wake) = counter();
        let (go_tx, go_rx) = channel::<()>();
        let mut t = Task::spawn("test-job", wake, move || {
            let _ = go_rx.recv();
            42
        })
        .expect("spawn");
        assert_eq!(t.poll(), Poll::Pending);
        assert_eq!(woken.load(Ordering::SeqCst), 0, "not before it is done");
        go_tx.send(()).expect("go");
        assert_eq!(wait_for(&mut t), Poll::Ready(42));
        assert_eq!(t.poll(), Poll::Gone, "a result is taken once");
        // The wake runs after the send; give it its moment.
        let deadline = Instant::now() + Duration::from_secs(10);
        while woken.load(Ordering::SeqCst) == 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(woken.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_job_that_panics_is_gone_and_still_wakes_the_ui() {
        let (woken, wake) = counter();
        let mut t: Task<u8> = Task::spawn("panicking-job", wake, || panic!("boom")).expect("spawn");
        assert_eq!(wait_for(&mut t), Poll::Gone);
        assert_eq!(woken.load(Ordering::SeqCst), 1);
        assert_eq!(t.name(), "panicking-job");
    }
}
