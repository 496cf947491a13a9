//! Following a job: subscribe to `JobProgress` and `JobFinished` *before* starting it
//! (so no signal is missed), start it, report progress, return the decoded summary. The
//! app, the CLI and the Python module all use this one helper.
//!
//! Progress signals are emitted from the backend's worker threads and may arrive out of
//! order; the counter reported here never goes backwards.

use futures_lite::StreamExt;

use crate::reason::{Code, Reason};
use crate::types::{API_VERSION, JobSummary};
use crate::{ConfigSyncProxy, Error, JobFinishedStream, JobProgressStream};

/// One step of a job as a client shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    pub job: u64,
    /// Qubes finished so far (never less than in an earlier report).
    pub done: u32,
    pub total: u32,
    /// The qube that just finished (as the backend named it; untrusted for display only
    /// in the sense that it is a qube name the backend validated).
    pub qube: String,
}

/// Why following a job failed.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Starting the job failed (the backend's error).
    #[error("{}", .0.reason())]
    Start(#[from] Error),
    #[error("D-Bus: {0}")]
    Bus(#[from] zbus::Error),
    #[error("the job's summary cannot be read: {0}")]
    Decode(#[from] serde_json::Error),
    #[error("the backend speaks a newer API (version {0})")]
    Version(u32),
    #[error("the backend went away before the job finished")]
    Lost,
}

impl JobError {
    /// As a reason a client renders.
    pub fn reason(&self) -> Reason {
        match self {
            JobError::Start(e) => e.reason(),
            JobError::Bus(e) => crate::error::bus_reason(e),
            JobError::Decode(e) => Reason::new(Code::ReplyUnreadable).arg("detail", e),
            JobError::Version(v) => Reason::new(Code::ClientTooOld).arg("version", v),
            JobError::Lost => Reason::new(Code::BusFailed).arg("detail", self),
        }
    }
}

/// Decodes a `JobFinished` summary and refuses a newer document version.
pub fn parse_summary(json: &str) -> Result<JobSummary, JobError> {
    let summary: JobSummary = serde_json::from_str(json)?;
    if summary.version > API_VERSION {
        return Err(JobError::Version(summary.version));
    }
    Ok(summary)
}

/// The highest count seen: a report of fewer finished qubes than an earlier one (the
/// signals of two worker threads crossing) is dropped, so the counter never goes back.
#[derive(Debug, Default)]
struct Monotonic {
    done: u32,
}

impl Monotonic {
    /// Whether `done` moves the counter forward (and takes it).
    fn advance(&mut self, done: u32) -> bool {
        if done > self.done {
            self.done = done;
            true
        } else {
            false
        }
    }
}

/// Subscriptions made before a job starts.
pub struct JobWatch {
    progress: JobProgressStream,
    finished: JobFinishedStream,
}

impl JobWatch {
    /// Subscribes to the job signals of `proxy`'s backend.
    pub async fn subscribe(proxy: &ConfigSyncProxy<'_>) -> Result<JobWatch, zbus::Error> {
        Ok(JobWatch {
            progress: proxy.receive_job_progress().await?,
            finished: proxy.receive_job_finished().await?,
        })
    }

    /// Waits for the end of `job`, calling `on_progress` with monotonic progress;
    /// returns the summary.
    pub async fn follow(
        mut self,
        job: u64,
        mut on_progress: impl FnMut(&Progress),
    ) -> Result<JobSummary, JobError> {
        let mut counter = Monotonic::default();
        loop {
            let progress = &mut self.progress;
            let finished = &mut self.finished;
            let next = futures_lite::future::or(async { progress.next().await.map(Ok) }, async {
                finished.next().await.map(Err)
            })
            .await;
            match next {
                Some(Ok(signal)) => {
                    let args = signal.args()?;
                    if args.job == job && counter.advance(args.done) {
                        on_progress(&Progress {
                            job,
                            done: args.done,
                            total: args.total,
                            qube: args.qube.to_owned(),
                        });
                    }
                }
                Some(Err(signal)) => {
                    let args = signal.args()?;
                    if args.job == job {
                        return parse_summary(args.summary_json);
                    }
                }
                None => return Err(JobError::Lost),
            }
        }
    }
}

/// Subscribes, starts the job with `start` (e.g. `proxy.execute_plan(id)`), follows it
/// to its end. The one way every client runs a job.
pub async fn run<F>(
    proxy: &ConfigSyncProxy<'_>,
    start: F,
    on_progress: impl FnMut(&Progress),
) -> Result<JobSummary, JobError>
where
    F: std::future::Future<Output = Result<u64, Error>>,
{
    let watch = JobWatch::subscribe(proxy).await?;
    let job = start.await?;
    watch.follow(job, on_progress).await
}

#[cfg(test)]
mod tests {
    use super::{JobError, Monotonic, parse_summary};
    use crate::reason::Code;
    use crate::types::API_VERSION;

    #[test]
    fn progress_never_goes_backwards() {
        let mut counter = Monotonic::default();
        let shown: Vec<u32> = [1, 2, 1, 2, 3]
            .into_iter()
            .filter(|d| counter.advance(*d))
            .collect();
        assert_eq!(shown, [1, 2, 3]);
    }

    #[test]
    fn a_summary_of_a_newer_api_is_refused() {
        let newer = format!(
            r#"{{"version":{},"kind":"push","cancelled":false,"qubes":[]}}"#,
            API_VERSION + 1
        );
        let e = parse_summary(&newer).unwrap_err();
        assert!(matches!(e, JobError::Version(_)));
        assert_eq!(e.reason().code, Code::ClientTooOld);
        assert!(matches!(parse_summary("{"), Err(JobError::Decode(_))));
    }
}
