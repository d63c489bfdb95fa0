//! One load thread's logic, without I/O: which requests to send when, which
//! answer belongs to which request, and what the latencies are.
//!
//! An I/O driver (`drive_epoll`, `drive_uring`) owns the sockets and calls in:
//! [`Engine::start`], then for every read [`Engine::on_data`], on a broken
//! connection [`Engine::on_failed`], and on every loop turn [`Engine::tick`];
//! it sends whatever [`Engine::output`] holds for a connection and asks
//! [`Engine::deadline`] how long it may wait.
//!
//! **Time.** All instants are TSC ticks from one `quanta::Clock`, read with
//! `raw()` (about 9 ns here, against about 22 ns for `Instant::now`). A
//! request carries two instants: when it was *meant* to be sent (its place in
//! the schedule) and when it was actually written. Latency from the first is
//! the corrected figure: a stall that delays sending is charged to the
//! requests it delayed, which is what a user waiting for them would see (no
//! coordinated omission). Latency from the second is the raw figure, which
//! hides the stall; both are recorded.
//!
//! **Closed loop**: each connection keeps `pipeline` requests outstanding and
//! sends the next when an answer arrives; intended and actual times are equal.
//! **Open loop**: arrivals at the thread's share of `--rate` (Poisson by
//! default: exponential gaps; or uniform), assigned round robin to the
//! thread's live connections and queued there until the connection has fewer
//! than `pipeline` outstanding.
//!
//! **The window.** A request belongs to the measured window if its intended
//! time is in it. After the window the engine schedules nothing new and
//! drains: it waits for the window's requests to be answered (or to time
//! out), so the last stalls of a run are measured, not dropped.

use std::collections::VecDeque;

use hdrhistogram::Histogram;

use crate::proto::{BadResponse, Fed, Requests, Responses, Shape};

/// Latencies are recorded in microseconds from 1 µs to 60 s with three
/// significant digits.
pub const HIGHEST_US: u64 = 60_000_000;

pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HIGHEST_US, 3).expect("valid histogram bounds")
}

/// The latencies of one thread: corrected (from the intended send time) and
/// raw (from the actual one). Corrected latencies go into the current
/// second's histogram, which joins the window's at the end of each second
/// ([`Latencies::close_interval`]); so recording one answer is two
/// subtractions, two multiplications and two histogram increments (the
/// `record` benchmark measures it with the two clock reads around it).
pub struct Latencies {
    corrected: Histogram<u64>,
    pub raw: Histogram<u64>,
    interval: Histogram<u64>,
    us_per_tick: f64,
}

impl Latencies {
    pub fn new(clock: &quanta::Clock) -> Self {
        Latencies {
            corrected: new_histogram(),
            raw: new_histogram(),
            interval: new_histogram(),
            us_per_tick: 1e6 / ticks_per_second(clock),
        }
    }

    /// Hand over the current second's corrected latencies, adding them to
    /// the window's.
    pub fn close_interval(&mut self) -> Histogram<u64> {
        self.corrected.add(&self.interval).expect("same bounds");
        let mut second = new_histogram();
        std::mem::swap(&mut second, &mut self.interval);
        second
    }

    /// The window's (corrected, raw) latencies, the current second included.
    pub fn finish(mut self) -> (Histogram<u64>, Histogram<u64>) {
        self.close_interval();
        (self.corrected, self.raw)
    }

    /// An answer to a request meant for `intended` and sent at `sent`
    /// arrived at `now` (all clock ticks).
    #[inline]
    pub fn record(&mut self, intended: u64, sent: u64, now: u64) {
        let corrected = self.to_us(now.saturating_sub(intended));
        let raw = self.to_us(now.saturating_sub(sent));
        self.interval.saturating_record(corrected);
        self.raw.saturating_record(raw);
    }

    #[inline]
    fn to_us(&self, ticks: u64) -> u64 {
        ((ticks as f64 * self.us_per_tick) as u64).max(1)
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
    /// Ticks: the window starts (warm-up ends) and ends. `window_end` may be
    /// moved earlier by a request budget or a stop.
    pub window_start: u64,
    pub window_end: u64,
    /// Most requests to send in the window (`--requests` share), or none.
    pub budget: Option<u64>,
    /// Ticks after which an unanswered request counts as timed out.
    pub timeout: u64,
    /// Ticks in one second (the progress interval).
    pub second: u64,
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
}

impl Errors {
    pub fn total(&self) -> u64 {
        self.connect + self.reset + self.timeout + self.bad_response
    }

    pub fn add(&mut self, o: &Errors) {
        self.connect += o.connect;
        self.reset += o.reset;
        self.timeout += o.timeout;
        self.bad_response += o.bad_response;
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
}

/// What a thread reports every second of the window.
#[derive(Debug)]
pub struct Interval {
    /// Seconds since the window started (0-based).
    pub second: u64,
    pub completed: u64,
    pub errors: Errors,
    /// Corrected latencies of the requests completed in that second.
    pub latency: Histogram<u64>,
}

/// A request on the wire.
#[derive(Clone, Copy, Debug)]
struct Sent {
    seq: u64,
    intended: u64,
    sent: u64,
}

struct Conn {
    requests: Requests,
    responses: Responses,
    next_seq: u64,
    in_flight: VecDeque<Sent>,
    /// Open loop: intended times of requests waiting for room.
    queued: VecDeque<u64>,
    /// Bytes for the driver to send.
    output: Vec<u8>,
    alive: bool,
    /// Answers received during the window.
    answers: u64,
    /// Whether it had a request outstanding at some point of the window.
    waited: bool,
}

/// The whole run of one thread, once it is over.
pub struct Outcome {
    pub corrected: Histogram<u64>,
    pub raw: Histogram<u64>,
    pub completed: u64,
    /// Requests scheduled in the window (sent or not).
    pub scheduled: u64,
    pub errors: Errors,
    /// The first bad answer, for the report.
    pub first_bad: Option<String>,
    /// Connections still alive at the end.
    pub alive: usize,
    /// Per connection that had a request outstanding during the window:
    /// the answers it received during the window (0: it was never
    /// answered, such as a connection queued behind a thread pool's busy
    /// workers).
    pub answers_per_conn: Vec<u64>,
}

pub struct Engine {
    plan: Plan,
    clock: quanta::Clock,
    conns: Vec<Conn>,
    latencies: Latencies,
    interval_completed: u64,
    interval_errors: Errors,
    second: u64,
    completed: u64,
    scheduled: u64,
    errors: Errors,
    first_bad: Option<String>,
    next_arrival: u64,
    next_conn: usize,
    rng: u64,
    next_timeout_check: u64,
    /// Intervals ready for the driver to hand to the main thread.
    pub ready_intervals: Vec<Interval>,
    /// Connections with new output since the driver last asked.
    dirty: Vec<usize>,
    stopping: bool,
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
                queued: VecDeque::new(),
                output: Vec::with_capacity(plan.shape.request_len() * plan.pipeline as usize),
                alive: true,
                answers: 0,
                waited: false,
            })
            .collect();
        let rng = plan.seed | 1;
        Engine {
            next_arrival: plan.window_start.min(clock.raw()),
            plan,
            clock,
            conns,
            latencies,
            interval_completed: 0,
            interval_errors: Errors::default(),
            second: 0,
            completed: 0,
            scheduled: 0,
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

    /// Closed loop: fill every connection's pipeline.
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

    pub fn connections(&self) -> usize {
        self.conns.len()
    }

    pub fn alive(&self, i: usize) -> bool {
        self.conns[i].alive
    }

    /// Bytes arrived on connection `i`, read at `now`.
    pub fn on_data(&mut self, i: usize, mut data: &[u8], now: u64) -> Result<(), BadResponse> {
        while !data.is_empty() {
            let conn = &mut self.conns[i];
            let Some(&front) = conn.in_flight.front() else {
                return Err(self.bad(i, BadResponse::Unsolicited));
            };
            match conn.responses.feed(front.seq, data) {
                Ok(Fed::More) => break,
                Ok(Fed::Done { consumed }) => {
                    data = &data[consumed..];
                    conn.in_flight.pop_front();
                    if (self.plan.window_start..self.plan.window_end).contains(&now) {
                        conn.answers += 1;
                    }
                    self.answered(front, now);
                    self.fill(i, now);
                }
                Err(bad) => return Err(self.bad(i, bad)),
            }
        }
        Ok(())
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

    /// The driver could not connect connection `i`.
    pub fn on_connect_failed(&mut self, i: usize) {
        if self.conns[i].alive {
            self.conns[i].alive = false;
            self.count(|e| e.connect += 1);
        }
    }

    fn fail(&mut self, i: usize, failure: Failure) {
        let conn = &mut self.conns[i];
        if !conn.alive {
            return;
        }
        conn.alive = false;
        conn.output.clear();
        if !conn.in_flight.is_empty() && self.clock.raw() >= self.plan.window_start {
            conn.waited = true;
        }
        // Requests that will never be answered still count against the run:
        // as the error that broke their connection (at least one).
        let window = self.plan.window_start..self.plan.window_end;
        let in_window = conn
            .in_flight
            .iter()
            .map(|s| s.intended)
            .chain(conn.queued.iter().copied())
            .filter(|t| window.contains(t))
            .count() as u64;
        conn.in_flight.clear();
        conn.queued.clear();
        let n = in_window.max(1);
        self.count(|e| match failure {
            Failure::Reset => e.reset += n,
            Failure::BadResponse => e.bad_response += n,
            Failure::Timeout => e.timeout += n,
        });
    }

    fn count(&mut self, f: impl Fn(&mut Errors)) {
        f(&mut self.errors);
        f(&mut self.interval_errors);
    }

    /// Record an answer that arrived at `now`.
    fn answered(&mut self, s: Sent, now: u64) {
        if !(self.plan.window_start..self.plan.window_end).contains(&s.intended) {
            return;
        }
        self.latencies.record(s.intended, s.sent, now);
        self.completed += 1;
        self.interval_completed += 1;
    }

    /// Send what connection `i` has room for.
    fn fill(&mut self, i: usize, now: u64) {
        let closed = self.plan.mode == Mode::Closed;
        let was_empty = self.conns[i].output.is_empty();
        loop {
            let conn = &mut self.conns[i];
            if !conn.alive || conn.in_flight.len() >= self.plan.pipeline as usize {
                break;
            }
            let intended = if closed {
                if self.stopping || now >= self.plan.window_end || self.over_budget() {
                    break;
                }
                if (self.plan.window_start..self.plan.window_end).contains(&now) {
                    self.scheduled += 1;
                }
                now
            } else {
                match conn.queued.pop_front() {
                    Some(t) => t,
                    None => break,
                }
            };
            let conn = &mut self.conns[i];
            let seq = conn.next_seq;
            conn.next_seq += 1;
            conn.requests.write(seq, &mut conn.output);
            let sent = self.clock.raw();
            conn.in_flight.push_back(Sent { seq, intended, sent });
            if (self.plan.window_start..self.plan.window_end).contains(&sent) {
                conn.waited = true;
            }
        }
        if was_empty && !self.conns[i].output.is_empty() {
            self.dirty.push(i);
        }
    }

    fn over_budget(&self) -> bool {
        self.plan.budget.is_some_and(|b| self.scheduled >= b)
    }

    /// Stop scheduling (Ctrl-C, or the main thread ended the run): what is
    /// in flight is still awaited.
    pub fn stop(&mut self, now: u64) {
        self.stopping = true;
        if now < self.plan.window_end {
            self.plan.window_end = now.max(self.plan.window_start);
        }
        for c in &mut self.conns {
            // Queued requests never sent are not part of the window any more.
            c.queued.retain(|&t| t < now);
        }
    }

    /// Open-loop arrivals, timeouts and the per-second report, as of now.
    pub fn tick(&mut self) {
        let now = self.clock.raw();
        if let Mode::Open { rate, arrival } = self.plan.mode {
            while self.next_arrival <= now
                && !self.stopping
                && self.next_arrival < self.plan.window_end
                && !self.over_budget()
            {
                let t = self.next_arrival;
                self.next_arrival += self.gap(rate, arrival);
                if let Some(i) = self.next_live_conn() {
                    if (self.plan.window_start..self.plan.window_end).contains(&t) {
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

    /// A connection whose oldest request is older than the timeout is
    /// broken: its requests count as timed out.
    fn check_timeouts(&mut self, now: u64) {
        for i in 0..self.conns.len() {
            let c = &self.conns[i];
            let oldest = c.in_flight.front().map(|s| s.sent);
            if c.alive && oldest.is_some_and(|t| now.saturating_sub(t) > self.plan.timeout) {
                self.fail(i, Failure::Timeout);
                self.dirty.push(i);
            }
        }
    }

    /// Hand over every full second of the window that has passed.
    fn report_seconds(&mut self, now: u64) {
        while now >= self.plan.window_start + (self.second + 1) * self.plan.second
            && self.plan.window_start + self.second * self.plan.second < self.plan.window_end
        {
            self.flush_interval();
        }
    }

    fn flush_interval(&mut self) {
        let latency = self.latencies.close_interval();
        self.ready_intervals.push(Interval {
            second: self.second,
            completed: std::mem::take(&mut self.interval_completed),
            errors: std::mem::take(&mut self.interval_errors),
            latency,
        });
        self.second += 1;
    }

    /// The instant the driver may sleep until: the next arrival, timeout
    /// check or second boundary.
    pub fn deadline(&self) -> u64 {
        let mut d = self.next_timeout_check;
        // The window's last second is reported by `finish`, not at a boundary.
        if self.plan.window_start + self.second * self.plan.second < self.plan.window_end {
            d = d.min(self.plan.window_start + (self.second + 1) * self.plan.second);
        }
        if let Mode::Open { .. } = self.plan.mode
            && !self.stopping
            && self.next_arrival < self.plan.window_end
        {
            d = d.min(self.next_arrival);
        }
        d
    }

    /// Nothing more to do: past the window (or stopped) and every request of
    /// the window answered or failed; or no live connection is left. A
    /// request sent during the warm-up and still unanswered is not waited
    /// for: it counts nowhere, and its connection counts as never answered.
    pub fn finished(&self) -> bool {
        let now = self.clock.raw();
        let no_live = self.conns.iter().all(|c| !c.alive);
        if no_live {
            return true;
        }
        let past = self.stopping || now >= self.plan.window_end || self.over_budget();
        let start = self.plan.window_start;
        past && self
            .conns
            .iter()
            .all(|c| c.in_flight.iter().all(|s| s.intended < start) && c.queued.is_empty())
    }

    /// Whether every connection has failed.
    pub fn all_failed(&self) -> bool {
        self.conns.iter().all(|c| !c.alive)
    }

    pub fn finish(mut self) -> Outcome {
        if self.interval_completed > 0 || self.interval_errors.total() > 0 {
            self.flush_interval();
        }
        let (corrected, raw) = self.latencies.finish();
        let answers_per_conn = self
            .conns
            .iter()
            // Still waiting at the end: outstanding since before it.
            .filter(|c| c.waited || c.answers > 0 || (c.alive && !c.in_flight.is_empty()))
            .map(|c| c.answers)
            .collect();
        Outcome {
            answers_per_conn,
            alive: self.conns.iter().filter(|c| c.alive).count(),
            corrected,
            raw,
            completed: self.completed,
            scheduled: self.scheduled,
            errors: self.errors,
            first_bad: self.first_bad,
        }
    }
}

/// Ticks per second of `clock`, from quanta's own calibration.
pub fn ticks_per_second(clock: &quanta::Clock) -> f64 {
    const PROBE: u64 = 1 << 40;
    PROBE as f64 / (clock.delta_as_nanos(0, PROBE) as f64 / 1e9)
}
