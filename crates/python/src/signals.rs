//! The backend's signals for Python (`ConfigSync.signals()`): `ProposalsChanged`,
//! `QubeChanged`, `JobProgress` and `JobFinished` as an iterator, for a tray
//! widget or a script that follows jobs.
//!
//! The match rules are in place when `signals()` returns, so nothing emitted after
//! it is missed. A background thread forwards the signals; waiting never holds
//! the GIL and wakes up regularly so Ctrl-C is honoured.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use futures_lite::{Stream, StreamExt};
use pyo3::prelude::*;

use qcs_client::ConfigSyncProxy;

use crate::errors::new_err;

/// How often a blocked wait looks for pending signals.
const SIGNAL_CHECK: Duration = Duration::from_millis(200);

/// A signal's arguments, typed as D-Bus sends them.
#[derive(Debug, Clone)]
enum Arg {
    Int(u64),
    Bool(bool),
    Text(String),
}

type Received = (&'static str, Vec<(&'static str, Arg)>);

/// One signal of the backend.
#[pyclass(module = "qubes_config_sync", name = "Signal", frozen)]
pub struct PySignal {
    /// `ProposalsChanged`, `QubeChanged`, `JobProgress` or `JobFinished`.
    #[pyo3(get)]
    name: String,
    args: Vec<(&'static str, Arg)>,
}

#[pymethods]
impl PySignal {
    /// The arguments by name: `pending`; `qube`; `job`, `done`, `total`, `qube`;
    /// `job`, `success`, `summary_json`.
    #[getter]
    fn args<'py>(&self, py: Python<'py>) -> PyResult<BTreeMap<&'static str, Bound<'py, PyAny>>> {
        self.args
            .iter()
            .map(|(name, arg)| {
                let value = match arg {
                    Arg::Int(i) => i.into_pyobject(py)?.into_any(),
                    Arg::Bool(b) => pyo3::types::PyBool::new(py, *b).to_owned().into_any(),
                    Arg::Text(t) => pyo3::types::PyString::new(py, t).into_any(),
                };
                Ok((*name, value))
            })
            .collect()
    }

    fn __repr__(&self) -> String {
        format!("Signal({}, {:?})", self.name, self.args)
    }
}

/// Signals of the backend as an iterator; `close()` (or leaving a `with` block)
/// ends it.
#[pyclass(module = "qubes_config_sync", name = "SignalStream", frozen)]
pub struct SignalStream {
    receiver: Mutex<Option<Receiver<Received>>>,
    stop: Mutex<Option<(async_channel::Sender<()>, JoinHandle<()>)>>,
}

fn boxed<S>(stream: S) -> std::pin::Pin<Box<dyn Stream<Item = Received> + Send>>
where
    S: Stream<Item = Received> + Send + 'static,
{
    Box::pin(stream)
}

impl SignalStream {
    /// Subscribes (match rules added before this returns) and starts forwarding.
    pub fn open(proxy: &ConfigSyncProxy<'static>) -> zbus::Result<SignalStream> {
        let (proposals, qubes, progress, finished) = zbus::block_on(async {
            Ok::<_, zbus::Error>((
                proxy.receive_proposals_changed().await?,
                proxy.receive_qube_changed().await?,
                proxy.receive_job_progress().await?,
                proxy.receive_job_finished().await?,
            ))
        })?;
        // A signal whose arguments do not decode is dropped: it cannot be shown.
        let proposals = boxed(proposals.filter_map(|s| {
            let a = s.args().ok()?;
            Some((
                "ProposalsChanged",
                vec![("pending", Arg::Int(u64::from(a.pending)))],
            ))
        }));
        let qubes = boxed(qubes.filter_map(|s| {
            let a = s.args().ok()?;
            Some(("QubeChanged", vec![("qube", Arg::Text(a.qube.to_owned()))]))
        }));
        let progress = boxed(progress.filter_map(|s| {
            let a = s.args().ok()?;
            Some((
                "JobProgress",
                vec![
                    ("job", Arg::Int(a.job)),
                    ("done", Arg::Int(u64::from(a.done))),
                    ("total", Arg::Int(u64::from(a.total))),
                    ("qube", Arg::Text(a.qube.to_owned())),
                ],
            ))
        }));
        let finished = boxed(finished.filter_map(|s| {
            let a = s.args().ok()?;
            Some((
                "JobFinished",
                vec![
                    ("job", Arg::Int(a.job)),
                    ("success", Arg::Bool(a.success)),
                    ("summary_json", Arg::Text(a.summary_json.to_owned())),
                ],
            ))
        }));
        let mut all = proposals.or(qubes).or(progress).or(finished);
        let (sender, receiver): (Sender<Received>, Receiver<Received>) = std::sync::mpsc::channel();
        let (stop_sender, stop_receiver) = async_channel::bounded::<()>(1);
        let thread = std::thread::Builder::new()
            .name("qcs-signals".to_owned())
            .spawn(move || {
                zbus::block_on(async move {
                    loop {
                        let next = futures_lite::future::or(async { all.next().await }, async {
                            // Stopped (or the stream object is gone): end.
                            let _ = stop_receiver.recv().await;
                            None
                        })
                        .await;
                        // End when stopped, or when nobody receives any more.
                        let Some(signal) = next else { break };
                        if sender.send(signal).is_err() {
                            break;
                        }
                    }
                });
            })
            .map_err(|e| zbus::Error::Failure(format!("cannot start the signal thread: {e}")))?;
        Ok(SignalStream {
            receiver: Mutex::new(Some(receiver)),
            stop: Mutex::new(Some((stop_sender, thread))),
        })
    }

    fn next_until(&self, py: Python<'_>, deadline: Option<Instant>) -> PyResult<Option<PySignal>> {
        let mut guard = self
            .receiver
            .lock()
            .map_err(|_| new_err("ConfigSyncError", "signal stream poisoned"))?;
        loop {
            let Some(receiver) = guard.take() else {
                return Ok(None);
            };
            let wait = match deadline {
                Some(d) => d
                    .saturating_duration_since(Instant::now())
                    .min(SIGNAL_CHECK),
                None => SIGNAL_CHECK,
            };
            let (receiver, received) = py.detach(move || {
                let received = receiver.recv_timeout(wait);
                (receiver, received)
            });
            *guard = Some(receiver);
            match received {
                Ok((name, args)) => {
                    return Ok(Some(PySignal {
                        name: name.to_owned(),
                        args,
                    }));
                }
                Err(RecvTimeoutError::Timeout) => {
                    py.check_signals()?;
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        return Ok(None);
                    }
                }
                Err(RecvTimeoutError::Disconnected) => return Ok(None),
            }
        }
    }

    fn stop(&self, py: Python<'_>) {
        let stop = self.stop.lock().ok().and_then(|mut s| s.take());
        if let Some((stop_sender, thread)) = stop {
            stop_sender.close();
            py.detach(|| {
                let _ = thread.join();
            });
        }
    }
}

#[pymethods]
impl SignalStream {
    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// The next signal; the iteration ends when the stream is closed.
    fn __next__(&self, py: Python<'_>) -> PyResult<Option<PySignal>> {
        self.next_until(py, None)
    }

    /// The next signal, or `None` when none came within `timeout` seconds (or the
    /// stream is closed).
    #[pyo3(signature = (timeout = None))]
    fn next_signal(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Option<PySignal>> {
        self.next_until(py, crate::errors::deadline_after(timeout)?)
    }

    /// Stops listening; iteration ends.
    fn close(&self, py: Python<'_>) {
        self.stop(py);
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __exit__(
        &self,
        py: Python<'_>,
        _exc_type: Option<Bound<'_, PyAny>>,
        _exc: Option<Bound<'_, PyAny>>,
        _traceback: Option<Bound<'_, PyAny>>,
    ) -> bool {
        self.stop(py);
        false
    }
}

impl Drop for SignalStream {
    fn drop(&mut self) {
        if let Ok(mut stop) = self.stop.lock()
            && let Some((stop_sender, thread)) = stop.take()
        {
            stop_sender.close();
            let _ = thread.join();
        }
    }
}

/// Registers the signal classes.
pub fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<SignalStream>()?;
    module.add_class::<PySignal>()?;
    Ok(())
}
