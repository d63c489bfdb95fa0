//! One load thread's logic, without I/O: which requests to send when, which
//! answer belongs to which request, and what the latencies are.
//!
//! **Call order.** An I/O driver (`drive_epoll`, `drive_uring`) owns the
//! sockets and calls in:
//! 1. [`Engine::new`], then [`Engine::start`] once its sockets are ready;
//! 2. every loop turn: [`Engine::take_dirty`] for the connections with
//!    output, [`Engine::output`] and [`Engine::sent`] for each as it writes
//!    their bytes (a connection [`Engine::alive`] no longer is closed
//!    instead), then [`Engine::end_turn`], which says whether the run is
//!    over; then it waits for I/O until [`Engine::deadline`];
//! 3. for every read, [`Engine::on_data`]; for a broken connection,
//!    [`Engine::on_failed`]; after the turn's completions, [`Engine::tick`];
//! 4. once `end_turn` said so, [`Engine::finish`] gives the [`Outcome`].
//!
//! **Time.** All instants are TSC ticks from one `quanta::Clock`, read with
//! `raw()` (about 9 ns here, against about 22 ns for `Instant::now`). A
//! request carries three instants: when it was *meant* to be sent (its place
//! in the schedule), when it *could* first be sent (its intended time, or
//! later if it waited for room on its connection), and when it was actually
//! written. Latency from the first is the corrected figure: a stall that
//! delays sending is charged to the requests it delayed, which is what a
//! user waiting for them would see (no coordinated omission). Latency from
//! the last is the raw figure, which hides the stall; both are recorded, in
//! nanoseconds. The gap between the second and the last is the *send lag*:
//! the load generator's own lateness (a late timer, a busy loop), which it
//! reports so a user can tell when the corrected figure measures the
//! generator rather than the server.
//!
//! **Closed loop**: each connection keeps `pipeline` requests outstanding and
//! sends the next when an answer arrives; intended and actual times are equal.
//! **Open loop**: arrivals at the thread's share of `--rate` (Poisson by
//! default: exponential gaps; or uniform), assigned round robin to the
//! thread's live connections and queued there until the connection has fewer
//! than `pipeline` outstanding.
//!
//! **The window and its accounting** (as wrk2 and Lancet count). A request
//! belongs to the measured window if its intended time is in it; the
//! window's requests are the *offered* load, those written in it the *sent*
//! load. Answers *received* in the window, to whichever request, are the
//! *achieved* load: what the server did in that time. After the window the
//! engine schedules nothing new and drains: it waits for the window's
//! requests to be answered, so the last stalls of a run are measured, not
//! dropped; their latencies count, but not towards the achieved rate.
//!
//! **Timeouts bound the drain.** In open loop, a request of the window
//! still unsent or unanswered `timeout` after its intended time is a
//! timeout: a queued one is dropped, one in flight is given up on (its
//! answer, if it comes, is not a latency). So the drain ends at most
//! `timeout` after the window. In both loops a connection whose oldest
//! request has been on the wire for `timeout` is broken, and its requests
//! count as timeouts. A request of the warm-up still unanswered is waited
//! for only a grace as long as the window (see [`Engine::finished`]); its
//! connection then counts as never answered ([`Outcome::unanswered`]), the
//! way a connection queued behind a thread pool's busy workers shows.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;

use hdrhistogram::Histogram;

use crate::proto::{Answer, BadResponse, Fed, Requests, Responses, Shape};

/// Latencies are recorded in nanoseconds, 1 ns to 60 s, three significant
/// digits: the histograms of `results::hdr`, whose formats write them.
pub use results::hdr::new_histogram;

/// The latencies of one thread: corrected (from the intended send time),
/// raw (from the actual one) and the send lag. All go into the current
/// interval's histograms, which join the run's when the interval closes
/// ([`Latencies::close_interval`]); so recording one answer is two
/// subtractions, two multiplications and two histogram increments (the
/// `record` benchmark measures it with the two clock reads around it).
pub struct Latencies {
    corrected: Histogram<u64>,
    raw: Histogram<u64>,
    lag: Histogram<u64>,
    interval: Histogram<u64>,
    interval_raw: Histogram<u64>,
    interval_lag: Histogram<u64>,
    ns_per_tick: f64,
}

/// One interval's histograms: corrected, raw, send lag.
pub type IntervalHistograms = (Histogram<u64>, Histogram<u64>, Histogram<u64>);

impl Latencies {
    pub fn new(clock: &quanta::Clock) -> Self {
        Latencies {
            corrected: new_histogram(),
            raw: new_histogram(),
            lag: new_histogram(),
            interval: new_histogram(),
            interval_raw: new_histogram(),
            interval_lag: new_histogram(),
            ns_per_tick: 1e9 / ticks_per_second(clock),
        }
    }

    /// Hand over the current interval's histograms, adding them to the
    /// run's.
    pub fn close_interval(&mut self) -> IntervalHistograms {
        self.corrected.add(&self.interval).expect("same bounds");
        self.raw.add(&self.interval_raw).expect("same bounds");
        self.lag.add(&self.interval_lag).expect("same bounds");
        (
            std::mem::replace(&mut self.interval, new_histogram()),
            std::mem::replace(&mut self.interval_raw, new_histogram()),
            std::mem::replace(&mut self.interval_lag, new_histogram()),
        )
    }

    /// The run's histograms, the current interval included.
    pub fn finish(mut self) -> IntervalHistograms {
        self.close_interval();
        (self.corrected, self.raw, self.lag)
    }

    /// An answer to a request meant for `intended` and sent at `sent`
    /// arrived at `now` (all clock ticks).
    #[inline]
    pub fn record(&mut self, intended: u64, sent: u64, now: u64) {
        let corrected = self.to_ns(now.saturating_sub(intended));
        let raw = self.to_ns(now.saturating_sub(sent));
        self.interval.saturating_record(corrected);
        self.interval_raw.saturating_record(raw);
    }

    /// A request that could be sent at `ready` was written at `sent`.
    #[inline]
    pub fn record_lag(&mut self, ready: u64, sent: u64) {
        let lag = self.to_ns(sent.saturating_sub(ready));
        self.interval_lag.saturating_record(lag);
    }

    #[inline]
    fn to_ns(&self, ticks: u64) -> u64 {
        ((ticks as f64 * self.ns_per_tick) as u64).max(1)
    }
}

/// How requests are scheduled.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mode {
    Closed,
    /// `rate` requests per second for this thread.
    Open {
        rate: f64,
        arrival: Arrival,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arrival {
    Poisson,
    Uniform,
}

/// What one thread runs.
#[derive(Clone, Debug)]
pub struct Plan {
    pub shape: Shape,
    pub pipeline: u32,
    pub mode: Mode,
    /// Ticks: the window starts (warm-up ends) and ends. `window_end` is
    /// moved earlier by a request budget or a stop.
    pub window_start: u64,
    pub window_end: u64,
    /// Most requests to send in the window (`--requests` share), or none.
    pub budget: Option<u64>,
    /// Ticks after which an unanswered request counts as timed out.
    pub timeout: u64,
    /// Ticks in one second (the progress interval).
    pub second: u64,
    /// Ticks before each timed wake-up to busy-poll instead of sleeping
    /// (`--spin`; 0: sleep until the deadline).
    pub spin: u64,
    /// Seed of the arrival process.
    pub seed: u64,
}

/// Errors by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Errors {
    pub connect: u64,
    pub reset: u64,
    pub timeout: u64,
    pub bad_response: u64,
    /// http answers of status 3xx, 4xx and 5xx (1xx heads are skipped;
    /// only 2xx count as answers).
    pub http_3xx: u64,
    pub http_4xx: u64,
    pub http_5xx: u64,
}

impl Errors {
    pub fn total(&self) -> u64 {
        self.connect + self.reset + self.timeout + self.bad_response + self.http_status()
    }

    /// Answers with a status other than 2xx.
    pub fn http_status(&self) -> u64 {
        self.http_3xx + self.http_4xx + self.http_5xx
    }

    /// Count an answer of status class `class` (3, 4 or 5).
    pub fn count_status(&mut self, class: usize) {
        match class {
            3 => self.http_3xx += 1,
            4 => self.http_4xx += 1,
            _ => self.http_5xx += 1,
        }
    }

    pub fn add(&mut self, o: &Errors) {
        self.connect += o.connect;
        self.reset += o.reset;
        self.timeout += o.timeout;
        self.bad_response += o.bad_response;
        self.http_3xx += o.http_3xx;
        self.http_4xx += o.http_4xx;
        self.http_5xx += o.http_5xx;
    }
}

/// Why a driver reports a connection broken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The peer closed or reset it.
    Reset,
    /// An answer was wrong.
    BadResponse,
    /// An answer did not come in time.
    Timeout,
    /// It could not be opened again after the server closed it.
    Connect,
}

/// What a thread reports for every second of the window, and once for the
/// drain after it.
#[derive(Debug)]
pub struct Interval {
    /// Seconds since the window started (0-based); the drain is the second
    /// after the window's last (whole or partial) one.
    pub second: u64,
    /// Whether this is the drain after the window.
    pub drain: bool,
    /// Answers received in the interval, to any request (the achieved
    /// load as it happens).
    pub answers: u64,
    /// Of the window's requests, those answered in the interval: what
    /// `latency` holds.
    pub completed: u64,
    pub errors: Errors,
    /// Corrected latencies of the window's requests answered in the
    /// interval, ns.
    pub latency: Histogram<u64>,
    /// Their raw latencies (from the actual send), ns.
    pub raw: Histogram<u64>,
    /// Send lag of the window's requests sent in the interval, ns (open
    /// loop).
    pub lag: Histogram<u64>,
}

/// A request on the wire.
#[derive(Clone, Copy, Debug)]
struct Sent {
    seq: u64,
    intended: u64,
    sent: u64,
    /// Given up on (open loop: `timeout` past its intended time): counted
    /// as a timeout already; its answer is no latency.
    expired: bool,
}

struct Conn {
    requests: Requests,
    responses: Responses,
    next_seq: u64,
    in_flight: VecDeque<Sent>,
    /// How many of `in_flight`'s first entries are expired (they expire in
    /// order: intended times rise along the queue).
    expired_front: usize,
    /// Open loop: intended times of requests waiting for room.
    queued: VecDeque<u64>,
    /// Since when the connection has had room for another request (ticks).
    room_since: u64,
    /// Bytes for the driver to send.
    output: Vec<u8>,
    alive: bool,
    /// Answers received during the window.
    answers: u64,
    /// Whether any answer arrived from the window's start on, the drain
    /// after it included.
    served: bool,
    /// Whether it had a request outstanding at some point of the window.
    waited: bool,
    /// The server closes it after the answer just read: waiting for the
    /// driver to reconnect.
    closing: bool,
}

/// The whole run of one thread, once it is over.
pub struct Outcome {
    /// Connections opened again after the server closed them.
    pub reconnects: u64,
    pub corrected: Histogram<u64>,
    pub raw: Histogram<u64>,
    /// Send lag of the window's requests, ns (open loop).
    pub lag: Histogram<u64>,
    /// The window's requests answered (in time), in the window or after.
    pub completed: u64,
    /// Of `completed`, answered after the window.
    pub late: u64,
    /// Answers received during the window, to any request.
    pub answered_in_window: u64,
    /// Requests scheduled in the window (sent or not): the offered load.
    pub scheduled: u64,
    /// Requests written during the window.
    pub sent_in_window: u64,
    /// The window as it ran, ticks (shorter than planned after a stop or a
    /// request budget).
    pub window_ticks: u64,
    /// How long the thread went on after its window, draining, ticks.
    pub drain_ticks: u64,
    pub errors: Errors,
    /// The first bad answer, for the report.
    pub first_bad: Option<String>,
    /// Connections still alive at the end.
    pub alive: usize,
    /// Per connection that had a request outstanding during the window or
    /// was answered in it: the answers it received during the window.
    pub answers_per_conn: Vec<u64>,
    /// Connections that had a request outstanding during the window and
    /// received no answer from its start to the end of the run (such as a
    /// connection queued behind a thread pool's busy workers).
    pub unanswered: usize,
}

/// Counts of the interval being filled.
#[derive(Default)]
struct IntervalCounts {
    answers: u64,
    completed: u64,
    errors: Errors,
}

pub struct Engine {
    plan: Plan,
    clock: quanta::Clock,
    conns: Vec<Conn>,
    latencies: Latencies,
    interval: IntervalCounts,
    /// The next interval to report (seconds of the window; the drain after).
    second: u64,
    completed: u64,
    late: u64,
    answered_in_window: u64,
    scheduled: u64,
    sent_in_window: u64,
    errors: Errors,
    first_bad: Option<String>,
    next_arrival: u64,
    next_conn: usize,
    rng: u64,
    next_timeout_check: u64,
    /// Intervals ready for the driver to hand to the main thread.
    ready_intervals: Vec<Interval>,
    /// Connections with new output since the driver last asked.
    dirty: Vec<usize>,
    stopping: bool,
    /// How long past the window a request sent in the warm-up is still
    /// waited for, ticks.
    stale_grace: u64,
    /// When the window ended (or the budget ran out), once seen.
    past_since: Option<u64>,
    /// When [`Engine::finished`] first said yes.
    finished_at: Option<u64>,
    /// Connections opened again after the server closed them.
    reconnects: u64,
}

impl Engine {
    pub fn new(plan: Plan, clock: quanta::Clock, connections: usize) -> Self {
        let latencies = Latencies::new(&clock);
        let conns = (0..connections)
            .map(|_| Conn {
                requests: Requests::new(&plan.shape),
                responses: Responses::new(&plan.shape),
                next_seq: 0,
                in_flight: VecDeque::new(),
                expired_front: 0,
                queued: VecDeque::new(),
                room_since: 0,
                output: Vec::with_capacity(plan.shape.request_len() * plan.pipeline as usize),
                alive: true,
                answers: 0,
                served: false,
                waited: false,
                closing: false,
            })
            .collect();
        let rng = plan.seed | 1;
        // As long as the window, at least 100 ms, at most the timeout: a
        // connection given up on then has waited all that with no answer.
        let stale_grace =
            (plan.window_end.saturating_sub(plan.window_start)).max(plan.second / 10).min(plan.timeout);
        Engine {
            stale_grace,
            past_since: None,
            finished_at: None,
            reconnects: 0,
            next_arrival: plan.window_start.min(clock.raw()),
            plan,
            clock,
            conns,
            latencies,
            interval: IntervalCounts::default(),
            second: 0,
            completed: 0,
            late: 0,
            answered_in_window: 0,
            scheduled: 0,
            sent_in_window: 0,
            errors: Errors::default(),
            first_bad: None,
            next_conn: 0,
            rng,
            next_timeout_check: 0,
            ready_intervals: Vec::new(),
            dirty: Vec::new(),
            stopping: false,
        }
    }

    pub fn clock(&self) -> &quanta::Clock {
        &self.clock
    }

    /// Begin: closed loop fills every connection's pipeline; open loop's
    /// first arrival is now.
    pub fn start(&mut self) {
        let now = self.clock.raw();
        self.next_arrival = now;
        if self.plan.mode == Mode::Closed {
            for i in 0..self.conns.len() {
                self.fill(i, now);
            }
        }
        self.tick();
    }

    /// Connections with output to send since the last call (each once).
    pub fn take_dirty(&mut self, into: &mut Vec<usize>) {
        into.append(&mut self.dirty);
    }

    /// The bytes waiting to be sent on connection `i`; the driver removes
    /// what it sends with [`Engine::sent`].
    pub fn output(&self, i: usize) -> &[u8] {
        &self.conns[i].output
    }

    /// The driver sent the first `n` bytes of connection `i`'s output.
    pub fn sent(&mut self, i: usize, n: usize) {
        let out = &mut self.conns[i].output;
        if n == out.len() {
            out.clear();
        } else {
            out.drain(..n);
        }
    }

    pub fn alive(&self, i: usize) -> bool {
        self.conns[i].alive
    }

    fn in_window(&self, t: u64) -> bool {
        (self.plan.window_start..self.plan.window_end).contains(&t)
    }

    /// Bytes arrived on connection `i`, read at `now`.
    pub fn on_data(&mut self, i: usize, mut data: &[u8], now: u64) -> Result<(), BadResponse> {
        // Answers after a second's end belong to the next second.
        self.report_seconds(now);
        while !data.is_empty() {
            let conn = &mut self.conns[i];
            if conn.closing {
                // The server said it closes after its last answer: nothing
                // more belongs to this connection.
                break;
            }
            let Some(&front) = conn.in_flight.front() else {
                return Err(self.bad(i, BadResponse::Unsolicited));
            };
            match conn.responses.feed(front.seq, data) {
                Ok(Fed::More) => break,
                Ok(Fed::Done { consumed, answer }) => {
                    data = &data[consumed..];
                    self.complete(i, answer, now);
                }
                Err(bad) => return Err(self.bad(i, bad)),
            }
        }
        Ok(())
    }

    /// The oldest request on connection `i` was answered at `now`.
    fn complete(&mut self, i: usize, answer: Answer, now: u64) {
        let in_window = self.in_window(now);
        let conn = &mut self.conns[i];
        if conn.in_flight.len() >= self.plan.pipeline as usize {
            conn.room_since = now;
        }
        let front = conn.in_flight.pop_front().expect("an answer completes a request in flight");
        conn.expired_front = conn.expired_front.saturating_sub(1);
        if now >= self.plan.window_start {
            conn.served = true;
        }
        if answer.ok() {
            if in_window {
                conn.answers += 1;
                self.answered_in_window += 1;
                self.interval.answers += 1;
            }
            self.answered(front, now);
        } else if !front.expired && self.in_window(front.intended) {
            // Answered, but not with a 2xx: an error of its status class,
            // neither a latency nor part of the achieved rate.
            let class = answer.class();
            self.count(|e| e.count_status(class));
        }
        if answer.close {
            self.closing(i);
        } else {
            self.fill(i, now);
        }
    }

    /// The server closes connection `i` after the answer just read: send
    /// nothing more on it; the requests already sent after that answer go
    /// back to the front of its queue, to be sent again once the driver has
    /// reconnected ([`Engine::reconnected`]).
    fn closing(&mut self, i: usize) {
        let conn = &mut self.conns[i];
        conn.closing = true;
        conn.output.clear();
        let unanswered: Vec<u64> =
            conn.in_flight.drain(..).filter(|s| !s.expired).map(|s| s.intended).collect();
        for t in unanswered.into_iter().rev() {
            conn.queued.push_front(t);
        }
        conn.expired_front = 0;
        conn.responses = Responses::new(&self.plan.shape);
    }

    /// Whether connection `i` waits to be reconnected: its server closed it
    /// after an answer (`Connection: close`). The driver closes the socket
    /// once nothing is in flight on it, opens a new one and calls
    /// [`Engine::reconnected`] (or [`Engine::reconnect_failed`]).
    pub fn wants_reconnect(&self, i: usize) -> bool {
        self.conns[i].alive && self.conns[i].closing
    }

    /// Connection `i` is open again: send what waits.
    pub fn reconnected(&mut self, i: usize, now: u64) {
        self.conns[i].closing = false;
        self.reconnects += 1;
        self.fill(i, now);
    }

    /// Connection `i` could not be opened again.
    pub fn reconnect_failed(&mut self, i: usize) {
        self.conns[i].closing = false;
        self.fail(i, Failure::Connect);
    }

    /// The server closed connection `i` (a read of 0 bytes). A body that
    /// ends at the close is complete; a connection that was to close
    /// anyway waits for its reconnect; otherwise it is broken.
    pub fn on_eof(&mut self, i: usize, now: u64) {
        self.report_seconds(now);
        let conn = &mut self.conns[i];
        if conn.closing {
            return;
        }
        if let Some(answer) = conn.responses.at_close() {
            self.complete(i, Answer { close: true, ..answer }, now);
            return;
        }
        self.fail(i, Failure::Reset);
    }

    fn bad(&mut self, i: usize, bad: BadResponse) -> BadResponse {
        if self.first_bad.is_none() {
            self.first_bad = Some(bad.to_string());
        }
        self.fail(i, Failure::BadResponse);
        bad
    }

    /// The driver found connection `i` broken; it closes it.
    pub fn on_failed(&mut self, i: usize, failure: Failure) {
        self.fail(i, failure);
    }

    fn fail(&mut self, i: usize, failure: Failure) {
        let now = self.clock.raw();
        let window = self.plan.window_start..self.plan.window_end;
        let conn = &mut self.conns[i];
        // A connection the server said it would close: its end is expected,
        // and a reconnect follows.
        if !conn.alive || (conn.closing && failure == Failure::Reset) {
            return;
        }
        conn.alive = false;
        conn.output.clear();
        if !conn.in_flight.is_empty() && now >= self.plan.window_start {
            conn.waited = true;
        }
        // Requests that will never be answered still count against the run:
        // as the error that broke their connection (at least one). Those
        // already given up on were counted then.
        let in_window = conn
            .in_flight
            .iter()
            .filter(|s| !s.expired)
            .map(|s| s.intended)
            .chain(conn.queued.iter().copied())
            .filter(|t| window.contains(t))
            .count() as u64;
        conn.in_flight.clear();
        conn.expired_front = 0;
        conn.queued.clear();
        let n = in_window.max(1);
        self.count(|e| match failure {
            Failure::Reset => e.reset += n,
            Failure::BadResponse => e.bad_response += n,
            Failure::Timeout => e.timeout += n,
            Failure::Connect => e.connect += n,
        });
    }

    fn count(&mut self, f: impl Fn(&mut Errors)) {
        f(&mut self.errors);
        f(&mut self.interval.errors);
    }

    /// Record an answer that arrived at `now`.
    fn answered(&mut self, s: Sent, now: u64) {
        if s.expired || !self.in_window(s.intended) {
            return;
        }
        self.latencies.record(s.intended, s.sent, now);
        self.completed += 1;
        self.interval.completed += 1;
        if now >= self.plan.window_end {
            self.late += 1;
        }
    }

    /// Send what connection `i` has room for.
    fn fill(&mut self, i: usize, now: u64) {
        let closed = self.plan.mode == Mode::Closed;
        let was_empty = self.conns[i].output.is_empty();
        loop {
            let conn = &self.conns[i];
            if !conn.alive || conn.closing || conn.in_flight.len() >= self.plan.pipeline as usize {
                break;
            }
            let room_since = conn.room_since;
            // Requests waiting first: an open loop's arrivals, or requests
            // to send again after a reconnect.
            let intended = if let Some(t) = self.conns[i].queued.pop_front() {
                t
            } else if closed {
                if self.stopping || now >= self.plan.window_end {
                    break;
                }
                if self.in_window(now) {
                    if self.over_budget() {
                        self.end_window(now);
                        break;
                    }
                    self.scheduled += 1;
                }
                now
            } else {
                break;
            };
            let conn = &mut self.conns[i];
            let seq = conn.next_seq;
            conn.next_seq += 1;
            conn.requests.write(seq, &mut conn.output);
            let sent = self.clock.raw();
            conn.in_flight.push_back(Sent { seq, intended, sent, expired: false });
            if self.in_window(sent) {
                self.conns[i].waited = true;
                self.sent_in_window += 1;
            }
            if !closed && self.in_window(intended) {
                self.latencies.record_lag(intended.max(room_since), sent);
            }
        }
        if was_empty && !self.conns[i].output.is_empty() {
            self.dirty.push(i);
        }
    }

    fn over_budget(&self) -> bool {
        self.plan.budget.is_some_and(|b| self.scheduled >= b)
    }

    /// The window ends at `now` (a stop, or the request budget spent).
    fn end_window(&mut self, now: u64) {
        if now < self.plan.window_end {
            self.plan.window_end = now.max(self.plan.window_start);
        }
    }

    /// Stop scheduling (Ctrl-C, or the main thread ended the run): what is
    /// in flight is still awaited.
    pub fn stop(&mut self, now: u64) {
        self.stopping = true;
        self.end_window(now);
        for c in &mut self.conns {
            // Queued requests never sent are not part of the window any more.
            c.queued.retain(|&t| t < now);
        }
    }

    /// A driver's end of turn, the same for every driver: hand the intervals
    /// finished so far to `intervals`, stop scheduling once `stop` is raised
    /// (Ctrl-C, or the main thread ended the run), and say whether the run
    /// is over.
    pub fn end_turn(&mut self, stop: &AtomicBool, intervals: &Sender<Interval>) -> bool {
        for interval in self.ready_intervals.drain(..) {
            // The receiver gone means the run is being torn down; nothing to tell.
            let _ = intervals.send(interval);
        }
        if !self.stopping && stop.load(Ordering::Relaxed) {
            self.stop(self.clock.raw());
        }
        self.finished()
    }

    /// Open-loop arrivals, timeouts and the per-second report, as of now.
    pub fn tick(&mut self) {
        let now = self.clock.raw();
        if let Mode::Open { rate, arrival } = self.plan.mode {
            while self.next_arrival <= now && !self.stopping && self.next_arrival < self.plan.window_end {
                let t = self.next_arrival;
                if self.in_window(t) && self.over_budget() {
                    self.end_window(t);
                    break;
                }
                self.next_arrival += self.gap(rate, arrival);
                if let Some(i) = self.next_live_conn() {
                    if self.in_window(t) {
                        self.scheduled += 1;
                    }
                    self.conns[i].queued.push_back(t);
                    self.fill(i, now);
                } else {
                    break;
                }
            }
        }
        if now >= self.next_timeout_check {
            self.next_timeout_check = now + self.plan.second / 100;
            self.check_timeouts(now);
        }
        self.report_seconds(now);
    }

    fn next_live_conn(&mut self) -> Option<usize> {
        for _ in 0..self.conns.len() {
            let i = self.next_conn;
            self.next_conn = (self.next_conn + 1) % self.conns.len();
            if self.conns[i].alive {
                return Some(i);
            }
        }
        None
    }

    /// The gap to the next arrival, in ticks.
    fn gap(&mut self, rate: f64, arrival: Arrival) -> u64 {
        let mean = self.plan.second as f64 / rate;
        match arrival {
            Arrival::Uniform => mean as u64,
            Arrival::Poisson => {
                // xorshift64*; exponential by inversion. 53 random bits make
                // u in (0, 1].
                self.rng ^= self.rng >> 12;
                self.rng ^= self.rng << 25;
                self.rng ^= self.rng >> 27;
                let r = self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D);
                let u = ((r >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
                (-u.ln() * mean) as u64
            }
        }
    }

    /// Open loop: give up on requests `timeout` past their intended time,
    /// queued (dropped) or in flight (expired). Both loops: a connection
    /// whose oldest request has been on the wire longer than the timeout
    /// is broken, its requests timed out.
    fn check_timeouts(&mut self, now: u64) {
        let timeout = self.plan.timeout;
        let due = |t: u64| now.saturating_sub(t) >= timeout;
        let mut expired = 0;
        if self.plan.mode != Mode::Closed {
            let window = self.plan.window_start..self.plan.window_end;
            for c in self.conns.iter_mut().filter(|c| c.alive) {
                while c.in_flight.get(c.expired_front).is_some_and(|s| due(s.intended)) {
                    let s = &mut c.in_flight[c.expired_front];
                    s.expired = true;
                    expired += u64::from(window.contains(&s.intended));
                    c.expired_front += 1;
                }
                while c.queued.front().is_some_and(|&t| due(t)) {
                    let t = c.queued.pop_front().expect("just seen");
                    expired += u64::from(window.contains(&t));
                }
            }
        }
        if expired > 0 {
            self.count(|e| e.timeout += expired);
        }
        for i in 0..self.conns.len() {
            let c = &self.conns[i];
            if c.alive && c.in_flight.front().is_some_and(|s| due(s.sent)) {
                self.fail(i, Failure::Timeout);
                self.dirty.push(i);
            }
        }
    }

    /// Seconds in the window (the last one may be partial).
    fn window_seconds(&self) -> u64 {
        self.plan.window_end.saturating_sub(self.plan.window_start).div_ceil(self.plan.second)
    }

    /// Hand over every second of the window that has passed (the last,
    /// partial one as soon as the window ends).
    fn report_seconds(&mut self, now: u64) {
        while self.second < self.window_seconds()
            && now
                >= (self.plan.window_start + (self.second + 1) * self.plan.second).min(self.plan.window_end)
        {
            self.flush_interval(false);
        }
    }

    fn flush_interval(&mut self, drain: bool) {
        let (latency, raw, lag) = self.latencies.close_interval();
        let counts = std::mem::take(&mut self.interval);
        self.ready_intervals.push(Interval {
            second: self.second,
            drain,
            answers: counts.answers,
            completed: counts.completed,
            errors: counts.errors,
            latency,
            raw,
            lag,
        });
        self.second += 1;
    }

    /// The instant the driver may sleep until: the next arrival, timeout
    /// check or second boundary.
    pub fn deadline(&self) -> u64 {
        let mut d = self.next_timeout_check;
        if self.second < self.window_seconds() {
            d = d.min(
                (self.plan.window_start + (self.second + 1) * self.plan.second).min(self.plan.window_end),
            );
        }
        if let Mode::Open { .. } = self.plan.mode
            && !self.stopping
            && self.next_arrival < self.plan.window_end
            && !(self.over_budget() && self.in_window(self.next_arrival))
        {
            d = d.min(self.next_arrival);
        }
        d
    }

    /// How long the driver may block waiting for I/O, ns: until the
    /// [`Engine::deadline`], less the spin margin (`--spin`): within it, 0,
    /// so the driver polls without sleeping and the deadline is met without
    /// the wake-up latency of an idle CPU.
    pub fn wait_ns(&self) -> u64 {
        let now = self.clock.raw();
        let deadline = self.deadline().max(now);
        let wait = deadline - now;
        let wait = if self.plan.spin == 0 { wait } else { wait.saturating_sub(self.plan.spin) };
        self.clock.delta_as_nanos(0, wait)
    }

    /// Nothing more to do: past the window (or stopped) and every request of
    /// the window answered, failed or given up on; or no live connection is
    /// left.
    ///
    /// A request sent during the warm-up counts nowhere, so it is waited
    /// for only a grace period past the window (as long as the window, at
    /// least 100 ms, at most `--timeout`; not at all after a stop): a
    /// connection still waiting for it then counts as never answered. In
    /// open loop, requests of the window queued behind it are still waited
    /// for, until they are answered or time out.
    pub fn finished(&mut self) -> bool {
        if self.finished_at.is_some() {
            return true;
        }
        let now = self.clock.raw();
        let done = self.is_finished(now);
        if done {
            self.finished_at = Some(now);
        }
        done
    }

    fn is_finished(&mut self, now: u64) -> bool {
        let no_live = self.conns.iter().all(|c| !c.alive);
        if no_live {
            return true;
        }
        let past = self.stopping || now >= self.plan.window_end;
        if !past {
            return false;
        }
        let past_since = *self.past_since.get_or_insert(now);
        let start = self.plan.window_start;
        let window_pending = self.conns.iter().any(|c| {
            !c.queued.is_empty() || c.in_flight.iter().skip(c.expired_front).any(|s| s.intended >= start)
        });
        if window_pending {
            return false;
        }
        let stale_pending = self.conns.iter().any(|c| c.alive && c.in_flight.len() > c.expired_front);
        !stale_pending || self.stopping || now >= past_since + self.stale_grace
    }

    pub fn finish(mut self) -> (Outcome, Vec<Interval>) {
        let end = self.finished_at.unwrap_or_else(|| self.clock.raw());
        // Whatever of the window was not reported yet (a run that ended
        // inside it), then the drain.
        while self.second < self.window_seconds() {
            self.flush_interval(false);
        }
        if self.interval.answers > 0 || self.interval.completed > 0 || self.interval.errors.total() > 0 {
            self.flush_interval(true);
        }
        let (corrected, raw, lag) = self.latencies.finish();
        // Still waiting at the end for a warm-up request: waited through the
        // window and the grace after it (not after a stop: no grace then).
        let window_ran = self.plan.window_end > self.plan.window_start;
        for c in &mut self.conns {
            if window_ran && !self.stopping && c.alive && c.in_flight.len() > c.expired_front {
                c.waited = true;
            }
        }
        let took_part = |c: &&Conn| window_ran && (c.waited || c.served);
        let answers_per_conn = self.conns.iter().filter(took_part).map(|c| c.answers).collect();
        let unanswered = self.conns.iter().filter(took_part).filter(|c| !c.served).count();
        let outcome = Outcome {
            reconnects: self.reconnects,
            answers_per_conn,
            unanswered,
            alive: self.conns.iter().filter(|c| c.alive).count(),
            corrected,
            raw,
            lag,
            completed: self.completed,
            late: self.late,
            answered_in_window: self.answered_in_window,
            scheduled: self.scheduled,
            sent_in_window: self.sent_in_window,
            window_ticks: self.plan.window_end.saturating_sub(self.plan.window_start),
            drain_ticks: end.saturating_sub(self.plan.window_end),
            errors: self.errors,
            first_bad: self.first_bad,
        };
        (outcome, self.ready_intervals)
    }
}

/// Ticks per second of `clock`, from quanta's own calibration.
pub fn ticks_per_second(clock: &quanta::Clock) -> f64 {
    const PROBE: u64 = 1 << 40;
    PROBE as f64 / (clock.delta_as_nanos(0, PROBE) as f64 / 1e9)
}

#[cfg(test)]
mod tests {
    //! The engine on a mock clock (one tick is one nanosecond), echo, with
    //! the test playing the server: it takes what a connection would send
    //! and feeds it back when it chooses.
    use std::sync::Arc;
    use std::time::Duration;

    use protocol::Protocol;

    use super::*;

    const MS: u64 = 1_000_000;

    fn engine(
        mode: Mode,
        conns: usize,
        warmup_ms: u64,
        window_ms: u64,
        budget: Option<u64>,
    ) -> (Engine, Arc<quanta::Mock>) {
        engine_with_timeout(mode, conns, warmup_ms, window_ms, budget, 60_000)
    }

    fn engine_with_timeout(
        mode: Mode,
        conns: usize,
        warmup_ms: u64,
        window_ms: u64,
        budget: Option<u64>,
        timeout_ms: u64,
    ) -> (Engine, Arc<quanta::Mock>) {
        let (clock, mock) = quanta::Clock::mock();
        let shape = Shape {
            protocol: Protocol::Echo,
            request_bytes: 4,
            response_bytes: 0,
            work: None,
            host: String::new(),
            path: "/".into(),
            headers: Vec::new(),
        };
        let plan = Plan {
            shape,
            pipeline: 1,
            mode,
            window_start: warmup_ms * MS,
            window_end: (warmup_ms + window_ms) * MS,
            budget,
            timeout: timeout_ms * MS,
            second: 1_000 * MS,
            spin: 0,
            seed: 7,
        };
        (Engine::new(plan, clock, conns), mock)
    }

    /// Take what connection `i` has to send, as the server will echo it.
    fn take(e: &mut Engine, i: usize) -> Vec<u8> {
        let bytes = e.output(i).to_vec();
        e.sent(i, bytes.len());
        bytes
    }

    fn advance(e: &mut Engine, mock: &quanta::Mock, ms: u64) {
        mock.increment(Duration::from_millis(ms));
        e.tick();
    }

    #[test]
    fn a_connection_never_served_is_counted_and_given_up_on_after_a_grace() {
        // Warm-up 100 ms, window 200 ms: connection 1's first request is
        // never answered; connection 0 is answered every 10 ms.
        let (mut e, mock) = engine(Mode::Closed, 2, 100, 200, None);
        e.start();
        let _never = take(&mut e, 1);
        for _ in 0..30 {
            let echo = take(&mut e, 0);
            advance(&mut e, &mock, 10);
            e.on_data(0, &echo, e.clock().raw()).unwrap();
            assert!(!e.finished());
        }
        // Past the window: the warm-up request is waited for a grace as
        // long as the window (200 ms), then given up on.
        advance(&mut e, &mock, 150);
        assert!(!e.finished());
        advance(&mut e, &mock, 100);
        assert!(e.finished());
        let (o, _) = e.finish();
        assert_eq!(o.unanswered, 1);
        assert_eq!(o.answers_per_conn, [20, 0], "an answer every 10 ms of the 200 ms window");
        assert_eq!(o.errors.total(), 0);
    }

    #[test]
    fn open_loop_answers_after_the_window_serve_their_connection() {
        // Window 100-300 ms; arrivals every 145 ms (0, 145, 290), round
        // robin. Answers come 20 ms after a request, except the one sent at
        // 290 ms: answered only after the window, in the drain.
        let (mut e, mock) =
            engine(Mode::Open { rate: 1000.0 / 145.0, arrival: Arrival::Uniform }, 2, 100, 200, None);
        e.start();
        let mut pending: Vec<(u64, usize, Vec<u8>)> = Vec::new();
        // To 320 ms.
        for _ in 0..64 {
            advance(&mut e, &mock, 5);
            let now = e.clock().raw();
            for i in 0..2 {
                if !e.output(i).is_empty() {
                    let echo = take(&mut e, i);
                    pending.push((now, i, echo));
                }
            }
            let (due, rest): (Vec<_>, Vec<_>) =
                pending.drain(..).partition(|(sent, _, _)| *sent < 250 * MS && now >= sent + 20 * MS);
            pending = rest;
            for (_, i, echo) in due {
                e.on_data(i, &echo, now).unwrap();
            }
        }
        assert_eq!(pending.len(), 1, "the request of 290 ms waits");
        assert!(!e.finished(), "a request of the window is waited for");
        for (_, i, echo) in pending.drain(..) {
            e.on_data(i, &echo, e.clock().raw()).unwrap();
        }
        assert!(e.finished());
        let (o, _) = e.finish();
        assert_eq!(o.unanswered, 0, "answered in the drain: served");
        assert_eq!(o.completed, 2, "the requests of 145 and 290 ms are the window's");
        assert_eq!(o.answers_per_conn, [0, 1], "connection 0's answer came after the window");
    }

    #[test]
    fn a_stop_in_the_warm_up_reports_no_connections() {
        let (mut e, mock) = engine(Mode::Closed, 3, 1_000, 1_000, None);
        e.start();
        advance(&mut e, &mock, 300);
        e.stop(e.clock().raw());
        assert!(e.finished(), "a stop does not wait for warm-up requests");
        let (o, _) = e.finish();
        assert_eq!((o.unanswered, o.answers_per_conn.len()), (0, 0));
    }

    #[test]
    fn open_loop_over_budget_sleeps_until_a_real_deadline() {
        let (mut e, mock) =
            engine(Mode::Open { rate: 1_000.0, arrival: Arrival::Uniform }, 1, 0, 10_000, Some(5));
        e.start();
        advance(&mut e, &mock, 50);
        let now = e.clock().raw();
        assert!(
            e.deadline() > now,
            "deadline {} is not after now {now}: the driver would spin",
            e.deadline()
        );
    }

    /// A server of known capacity, played by the test: one FIFO queue over
    /// every connection, one answer per millisecond (1,000 a second).
    struct Fifo {
        queue: VecDeque<(usize, Vec<u8>)>,
        next_answer: u64,
    }

    impl Fifo {
        /// Take what every connection sent, then answer what is due by now.
        fn serve(&mut self, e: &mut Engine, conns: usize) {
            for i in 0..conns {
                if e.alive(i) && !e.output(i).is_empty() {
                    let bytes = take(e, i);
                    // Echo: one request is 4 bytes.
                    for chunk in bytes.chunks(4) {
                        self.queue.push_back((i, chunk.to_vec()));
                    }
                }
            }
            let now = e.clock().raw();
            while self.next_answer <= now {
                let Some((i, bytes)) = self.queue.pop_front() else {
                    self.next_answer = now + MS;
                    break;
                };
                self.next_answer += MS;
                if e.alive(i) {
                    e.on_data(i, &bytes, now).unwrap();
                }
            }
        }
    }

    #[test]
    fn open_loop_over_capacity_reports_what_the_server_did_and_ends_a_timeout_after_the_window() {
        // Offered 2,000/s (uniform) to a server of 1,000/s, 4 connections,
        // pipeline 4; warm-up 500 ms, window 2 s, timeout 300 ms.
        let (mut e, mock) = engine_with_timeout(
            Mode::Open { rate: 2_000.0, arrival: Arrival::Uniform },
            4,
            500,
            2_000,
            None,
            300,
        );
        e.plan.pipeline = 4;
        let mut server = Fifo { queue: VecDeque::new(), next_answer: 0 };
        e.start();
        let mut ms = 0;
        while !e.finished() {
            mock.increment(Duration::from_micros(250));
            e.tick();
            server.serve(&mut e, 4);
            ms += 1;
            assert!(ms < 4 * 10_000, "the run does not end");
        }
        let ended_ms = e.clock().raw() / MS;
        let (o, intervals) = e.finish();
        let window_s = 2.0;
        let achieved = o.answered_in_window as f64 / window_s;
        let offered = o.scheduled as f64 / window_s;
        assert!((achieved - 1_000.0).abs() <= 10.0, "achieved {achieved}/s from a server of 1,000/s");
        assert!((offered - 2_000.0).abs() <= 1.0, "offered {offered}/s");
        // Every request of the window is answered or timed out.
        assert_eq!(o.completed + o.errors.timeout, o.scheduled, "{:?}", o.errors);
        assert!(o.errors.timeout >= 1_500, "the requests that never got their turn: {}", o.errors.timeout);
        assert!(ended_ms <= 2_500 + 300 + 10, "the drain ended at {ended_ms} ms, past window end + timeout");
        assert_eq!(o.drain_ticks / MS, ended_ms - 2_500);
        // Latencies of the answered stay within the timeout.
        assert!(o.corrected.max() <= 301 * MS, "max {} ms", o.corrected.max() / MS);
        // The per-second answers show the server's rate, and the drain is
        // its own interval.
        let rates: Vec<u64> = intervals.iter().filter(|i| !i.drain).map(|i| i.answers).collect();
        assert!(rates.iter().all(|&r| (990..=1_010).contains(&r)), "answers per second {rates:?}");
        assert!(intervals.last().is_some_and(|i| i.drain));
    }

    #[test]
    fn send_lag_is_the_generators_lateness_not_the_wait_for_room() {
        // One connection, pipeline 1, arrivals every 2 ms; answers after
        // 5 ms, so requests queue for room: that wait is the server's, and
        // the lag stays 0. Then one tick comes 3 ms late: that is lag.
        let (mut e, mock) = engine(Mode::Open { rate: 500.0, arrival: Arrival::Uniform }, 1, 0, 1_000, None);
        e.start();
        let mut pending: Option<(u64, Vec<u8>)> = None;
        for _ in 0..200 {
            advance(&mut e, &mock, 1);
            let now = e.clock().raw();
            if pending.is_none() && !e.output(0).is_empty() {
                pending = Some((now, take(&mut e, 0)));
            }
            if let Some((sent, bytes)) = pending.take_if(|(sent, _)| now >= *sent + 5 * MS) {
                let _ = sent;
                e.on_data(0, &bytes, now).unwrap();
            }
        }
        assert!(e.latencies.interval_lag.max() <= 1, "waiting for room is not lag");
        assert!(e.latencies.interval.value_at_quantile(0.5) > 50 * MS, "but it is latency");
        // A late wake-up: the next arrival is due now; the tick comes 3 ms on.
        let (mut e, mock) = engine(Mode::Open { rate: 100.0, arrival: Arrival::Uniform }, 1, 0, 1_000, None);
        e.start();
        let first = take(&mut e, 0);
        e.on_data(0, &first, e.clock().raw()).unwrap();
        mock.increment(Duration::from_millis(13));
        e.tick();
        let lag = e.latencies.interval_lag.max();
        assert!((3 * MS - 10_000..=3 * MS + 10_000).contains(&lag), "lag {lag} ns, expected 3 ms");
    }

    #[test]
    fn achieved_counts_answers_received_in_the_window_to_any_request() {
        // Closed loop, 1 connection: the warm-up's last request is answered
        // inside the window; it counts as achieved, not as a latency.
        let (mut e, mock) = engine(Mode::Closed, 1, 10, 100, None);
        e.start();
        let mut answers = 0;
        for _ in 0..20 {
            let bytes = take(&mut e, 0);
            advance(&mut e, &mock, 7);
            e.on_data(0, &bytes, e.clock().raw()).unwrap();
            answers += 1;
        }
        // Answers at 7, 14, ..., 140 ms: those at 14..=105 ms are in the
        // window 10-110 ms (14 of them); the first is to the warm-up's request.
        let _ = answers;
        while !e.finished() {
            advance(&mut e, &mock, 1);
        }
        let (o, _) = e.finish();
        assert_eq!(o.answered_in_window, 14);
        assert_eq!(o.completed, 14, "requests sent at 14..=105 ms, answered 7 ms later");
        assert_eq!(o.late, 1, "the one sent at 105 ms is answered at 112 ms");
    }
}
