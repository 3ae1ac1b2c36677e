//! Live pages as server-sent events: a running build's log, and a deployment in progress
//! ([`deployment_events`]).
//!
//! The live log of a running build: `logs/build.log` (every line,
//! `[PHASE] ` first) tailed from the byte offset the page was made at. Events: `line`
//! (`{phase, text, kiln}`), `status` (`{phase, status}` when `build.json` changes), `end` (the
//! build is complete and every line was sent). The stream also ends when the client goes away
//! (axum drops it) or after [`MAX_LIFE`].

use std::io::{Read, Seek, SeekFrom};
use std::time::{Duration, Instant};

use axum::extract::{Path, Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;

use super::AppState;
use kiln_record::{Kind, RecordId, Records, RelPath};

const POLL: Duration = Duration::from_millis(250);
/// Most bytes read per poll (a build printing faster is caught up over several polls).
const CHUNK: u64 = 256 * 1024;
const MAX_LIFE: Duration = Duration::from_secs(6 * 3600);

struct Tail {
    records: Records,
    id: RecordId,
    offset: u64,
    partial: Vec<u8>,
    phase: String,
    started: Instant,
    done: bool,
    queue: std::collections::VecDeque<Event>,
}

impl Tail {
    /// New lines since the last read (complete lines only), and whether the build is complete.
    fn poll(&mut self) {
        let Some(rel) = RelPath::parse("logs/build.log") else { return };
        if let Ok(input) = self.records.open(Kind::Build, &self.id, &rel) {
            let len = input.metadata().len();
            if len > self.offset {
                let mut f = input.into_file();
                if f.seek(SeekFrom::Start(self.offset)).is_ok() {
                    let mut buf = Vec::new();
                    if let Ok(n) = f.take((len - self.offset).min(CHUNK)).read_to_end(&mut buf) {
                        self.offset += n as u64;
                        self.partial.extend_from_slice(&buf);
                    }
                }
            }
        }
        while let Some(i) = memchr::memchr(b'\n', &self.partial) {
            let line: Vec<u8> = self.partial.drain(..=i).collect();
            let text = String::from_utf8_lossy(&line[..line.len() - 1]).into_owned();
            let (phase, rest) = match text.strip_prefix('[').and_then(|t| t.split_once("] ")) {
                Some((p, r)) => (p.to_string(), r.to_string()),
                None => (String::new(), text.clone()),
            };
            let kiln = rest.starts_with("[kiln] ");
            let data = serde_json::json!({ "phase": phase, "text": crate::model::logs::clip(&rest), "kiln": kiln });
            self.queue.push_back(Event::default().event("line").data(data.to_string()));
        }
        if let Ok(b) = self.records.build(&self.id) {
            if b.current_phase != self.phase {
                self.phase = b.current_phase.clone();
                self.queue.push_back(Event::default().event("status").data(serde_json::json!({ "phase": b.current_phase, "status": b.build_status }).to_string()));
            }
            // Complete: once everything written has been sent.
            let len = RelPath::parse("logs/build.log").and_then(|r| self.records.open(Kind::Build, &self.id, &r).ok()).map(|i| i.metadata().len()).unwrap_or(0);
            if b.build_complete && self.offset >= len {
                self.done = true;
            }
        }
        if self.started.elapsed() > MAX_LIFE {
            self.done = true;
        }
    }
}

pub async fn events(State(s): State<AppState>, Path(id): Path<String>, Query(q): Query<HashMap<String, String>>) -> Response {
    let Some(id) = RecordId::parse(&id) else { return super::pages::missing("This is not a record id.") };
    if s.records.build(&id).is_err() {
        return super::pages::missing("No build with this id.");
    }
    let offset = q.get("from").and_then(|f| f.parse().ok()).unwrap_or(0);
    let tail = Tail { records: s.records.clone(), id, offset, partial: Vec::new(), phase: String::new(), started: Instant::now(), done: false, queue: Default::default() };
    let stream = futures_util::stream::unfold((tail, false), |(mut t, ended)| async move {
        if ended {
            return None;
        }
        loop {
            if let Some(e) = t.queue.pop_front() {
                return Some((Ok::<_, std::convert::Infallible>(e), (t, false)));
            }
            if t.done {
                return Some((Ok(Event::default().event("end").data("complete")), (t, true)));
            }
            tokio::time::sleep(POLL).await;
            t = match tokio::task::spawn_blocking(move || {
                t.poll();
                t
            })
            .await
            {
                Ok(t) => t,
                Err(_) => return None,
            };
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default()).into_response()
}

/// How often a live deployment's record is checked for a change.
const DEPLOYMENT_POLL: Duration = Duration::from_millis(400);
/// How long a deployment that ended with no rollback information yet is followed: kiln writes
/// the rollback it starts (`rollbackInfo`) just after the failed deployment's final status.
const ROLLBACK_GRACE: Duration = Duration::from_secs(3);

/// Where a deployment's stream is.
enum Stage {
    Running,
    /// The final page was sent; `end` is next.
    Ending,
    Done,
}

/// Whether a deployment's page will not change any more: it is not live, and it says what
/// became of its rollback (`rollbackInfo`: the rollback started, or why there is none), or it
/// ended [`ROLLBACK_GRACE`] ago without one (no rollback was asked for).
fn settled(d: &kiln_record::DeploymentInfo, final_since: Option<Instant>) -> bool {
    !crate::render::deployment::is_live(d) && (d.rollback_info.is_some() || final_since.is_some_and(|t| t.elapsed() >= ROLLBACK_GRACE))
}

/// A deployment in progress, as server-sent events: `page` (the deployment's part of the page,
/// rendered again, escaped as every page is, whenever its record changes: its size or
/// modification time) and `end` (the deployment is final and [`settled`], or the stream is
/// [`MAX_LIFE`] old; the last `page` was sent). `kiln.js` puts each `page` in place of the old
/// one.
pub async fn deployment_events(State(s): State<AppState>, Path(id): Path<String>) -> Response {
    let Some(id) = RecordId::parse(&id) else { return super::pages::missing("This is not a deployment id.") };
    if s.deployments.get(&id).await.is_none() {
        return super::pages::missing("No deployment with this id.");
    }
    let start = (s, id, None::<String>, Instant::now(), Stage::Running, None::<Instant>);
    let stream = futures_util::stream::unfold(start, |(s, id, last, started, stage, mut final_since)| async move {
        match stage {
            Stage::Done => return None,
            Stage::Ending => return Some((Ok::<_, std::convert::Infallible>(Event::default().event("end").data("final")), (s, id, last, started, Stage::Done, final_since))),
            Stage::Running => {}
        }
        loop {
            let stamp = s.deployments.changed(&id).await;
            if stamp.is_some() && stamp != last
                && let Some(Ok(d)) = s.deployments.get(&id).await
            {
                // An SSE data field cannot hold a carriage return; in HTML text and attributes
                // the character reference is the same character.
                let html = crate::render::deployment::body(&d).into_string().replace('\r', "&#13;");
                if !crate::render::deployment::is_live(&d) {
                    final_since.get_or_insert_with(Instant::now);
                }
                let next = if settled(&d, final_since) || started.elapsed() >= MAX_LIFE { Stage::Ending } else { Stage::Running };
                return Some((Ok(Event::default().event("page").data(html)), (s, id, stamp, started, next, final_since)));
            }
            if final_since.is_some_and(|t| t.elapsed() >= ROLLBACK_GRACE) {
                return Some((Ok(Event::default().event("end").data("final")), (s, id, last, started, Stage::Done, final_since)));
            }
            if started.elapsed() > MAX_LIFE {
                return Some((Ok(Event::default().event("end").data("too old")), (s, id, last, started, Stage::Done, final_since)));
            }
            tokio::time::sleep(DEPLOYMENT_POLL).await;
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default()).into_response()
}
