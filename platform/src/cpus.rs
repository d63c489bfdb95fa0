//! CPU lists as the command line gives them (`0`, `0,2`, `1-3`), the check
//! that each CPU is one this process may run on, and pinning the calling
//! thread. Both binaries' `--cores` flags (and the sweep's
//! `--server-cores` / `--client-cores`) go through here, so they accept
//! and refuse the same lists with the same messages.

use std::fmt;

/// CPUs, in the order given (a newtype so clap takes one value, not many).
/// Displayed the way it is written on the command line, ranges folded:
/// `0-2,5`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CpuList(pub Vec<usize>);

/// CPU numbers at or above this cannot be in an affinity mask (`CPU_SETSIZE`).
const MAX_CPUS: usize = 1024;

/// Parse a CPU list: comma-separated numbers and inclusive ranges. A CPU
/// named twice counts once, where it first appears. (A clap value parser;
/// the error is the message clap shows.)
pub fn parse_cores(list: &str) -> Result<CpuList, String> {
    let bad = || format!("bad CPU list `{list}`: expected numbers and ranges such as 0 or 0,2-3");
    let mut cores = Vec::new();
    let mut seen = [false; MAX_CPUS];
    for part in list.split(',') {
        let part = part.trim();
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (a.trim().parse::<usize>(), b.trim().parse::<usize>()),
            None => (part.parse(), part.parse()),
        };
        let (lo, hi) = (lo.map_err(|_| bad())?, hi.map_err(|_| bad())?);
        if lo > hi {
            return Err(bad());
        }
        if hi >= MAX_CPUS {
            return Err(format!("bad CPU list `{list}`: CPU numbers go up to {}", MAX_CPUS - 1));
        }
        for (c, seen) in seen.iter_mut().enumerate().take(hi + 1).skip(lo) {
            if !std::mem::replace(seen, true) {
                cores.push(c);
            }
        }
    }
    Ok(CpuList(cores))
}

impl fmt::Display for CpuList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cores = &self.0;
        let mut i = 0;
        while i < cores.len() {
            let mut j = i;
            while j + 1 < cores.len() && cores[j + 1] == cores[j] + 1 {
                j += 1;
            }
            if i > 0 {
                f.write_str(",")?;
            }
            if i == j {
                write!(f, "{}", cores[i])?
            } else {
                write!(f, "{}-{}", cores[i], cores[j])?
            }
            i = j + 1;
        }
        Ok(())
    }
}

/// The CPUs this process may run on (its affinity mask), in order; empty
/// if the mask cannot be read.
pub fn allowed() -> Vec<usize> {
    core_affinity::get_core_ids().unwrap_or_default().into_iter().map(|c| c.id).collect()
}

/// A CPU asked for with `flag` that this process may not run on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuUnavailable {
    /// The flag that named it, e.g. `--cores`.
    pub flag: &'static str,
    pub cpu: usize,
    /// The CPUs it may use instead.
    pub allowed: CpuList,
}

impl fmt::Display for CpuUnavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: CPU {} is not available to this process (it may use {})",
            self.flag, self.cpu, self.allowed
        )
    }
}

impl std::error::Error for CpuUnavailable {}

/// Every CPU in `cores` (given with `flag`) must be one this process may
/// run on; refuse the first that is not. An empty list (no pinning) passes.
pub fn check_cores(flag: &'static str, cores: &[usize]) -> Result<(), CpuUnavailable> {
    if cores.is_empty() {
        return Ok(());
    }
    let allowed = allowed();
    match cores.iter().find(|c| !allowed.contains(c)) {
        Some(&cpu) => Err(CpuUnavailable { flag, cpu, allowed: CpuList(allowed) }),
        None => Ok(()),
    }
}

/// The calling thread could not be pinned to `cpu`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PinFailed {
    pub cpu: usize,
}

impl fmt::Display for PinFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot pin a thread to CPU {}", self.cpu)
    }
}

impl std::error::Error for PinFailed {}

/// Pin the calling thread to `cpu`.
pub fn pin(cpu: usize) -> Result<(), PinFailed> {
    if core_affinity::set_for_current(core_affinity::CoreId { id: cpu }) {
        Ok(())
    } else {
        Err(PinFailed { cpu })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_lists() {
        assert_eq!(parse_cores("0"), Ok(CpuList(vec![0])));
        assert_eq!(parse_cores("0,2-4, 1"), Ok(CpuList(vec![0, 2, 3, 4, 1])));
        assert_eq!(parse_cores("1,1,0-1"), Ok(CpuList(vec![1, 0])));
        for bad in ["", "a", "3-1", "1,", "-1", "1-"] {
            assert!(parse_cores(bad).unwrap_err().contains("bad CPU list"), "{bad:?}");
        }
        assert!(parse_cores("0-4000000000").unwrap_err().contains("CPU numbers go up to 1023"));
    }

    #[test]
    fn lists_display_as_written() {
        for (cores, text) in
            [(&[][..], ""), (&[0], "0"), (&[0, 1, 2, 5, 7, 8], "0-2,5,7-8"), (&[3, 1, 2], "3,1-2")]
        {
            assert_eq!(CpuList(cores.to_vec()).to_string(), text);
        }
    }

    #[test]
    fn only_allowed_cpus_pass() {
        assert_eq!(check_cores("--cores", &[]), Ok(()));
        let allowed = allowed();
        assert_eq!(check_cores("--cores", &allowed), Ok(()));
        let e = check_cores("--client-cores", &[1000]).unwrap_err();
        assert_eq!(
            e,
            CpuUnavailable { flag: "--client-cores", cpu: 1000, allowed: CpuList(allowed.clone()) }
        );
        assert_eq!(
            e.to_string(),
            format!(
                "--client-cores: CPU 1000 is not available to this process (it may use {})",
                CpuList(allowed)
            )
        );
        assert_eq!(pin(1000), Err(PinFailed { cpu: 1000 }));
    }
}
