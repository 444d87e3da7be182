//! What each part of a run costs the machine: CPU seconds and memory of the broker,
//! ClickHouse, the aggregator, the sink and evbench's own process (load and observers), sampled
//! every second from `/proc` (Linux).
//!
//! A part is a process group (the native servers and the pipeline's processes each have their
//! own); its CPU time is the sum of its processes' user and system time, its memory the sum of
//! their resident sets, and its peak the largest such sum seen (at one-second resolution).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

/// What is watched: how to find its processes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Target {
    /// Every process whose process group is this one.
    Group(u32),
    /// This process alone (evbench's own threads: the load, the observers).
    Own,
}

/// A target and whether what it used before it was first sampled counts.
#[derive(Debug, Clone, Copy)]
struct Watched {
    target: Target,
    /// Count only from the first sample on (servers started before the run: their start-up
    /// is not the run's).
    from_now: bool,
}

/// One second of one part.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct ResourceSample {
    /// Seconds since sampling started.
    pub t: u64,
    /// CPU used in that second, in cores (1.0 = one core busy all second).
    pub cpu: f64,
    /// Resident memory at the sample.
    pub rss_bytes: u64,
}

/// One part's account.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ResourceUse {
    /// CPU seconds (user + system) over the run.
    pub cpu_seconds: f64,
    /// The largest resident memory seen.
    pub peak_rss_bytes: u64,
    /// How fast resident memory grew over the second half of the samples (least squares, bytes
    /// per minute; `null` under 20 samples): a part that keeps only its state (open visits,
    /// pending batches) levels off, a leak keeps a positive slope.
    pub rss_slope_bytes_per_min: Option<f64>,
    pub series: Vec<ResourceSample>,
}

impl ResourceUse {
    /// Fills in what is computed from the series.
    fn finish(&mut self) {
        self.rss_slope_bytes_per_min = rss_slope_per_min(&self.series);
    }
}

/// The least-squares slope of resident memory over the second half of `series`, per minute.
/// The first half holds the start-up and the warm-up (caches, pools, the JVM's heap growing to
/// its working size), which say nothing about growth under steady load.
fn rss_slope_per_min(series: &[ResourceSample]) -> Option<f64> {
    // Seconds when the part had no process (not started yet, or ended before the last sample)
    // are no memory of it.
    let alive: Vec<ResourceSample> = series.iter().filter(|s| s.rss_bytes > 0).copied().collect();
    if alive.len() < 20 {
        return None;
    }
    let tail = &alive[alive.len() / 2..];
    let n = tail.len() as f64;
    let mean_t = tail.iter().map(|s| s.t as f64).sum::<f64>() / n;
    let mean_rss = tail.iter().map(|s| s.rss_bytes as f64).sum::<f64>() / n;
    let (mut covariance, mut variance) = (0.0, 0.0);
    for s in tail {
        let dt = s.t as f64 - mean_t;
        covariance += dt * (s.rss_bytes as f64 - mean_rss);
        variance += dt * dt;
    }
    (variance > 0.0).then(|| covariance / variance * 60.0)
}

/// Samples the targets every second on a thread of its own until finished.
pub(crate) struct Sampler {
    targets: Arc<Mutex<BTreeMap<String, Watched>>>,
    stop: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<BTreeMap<String, ResourceUse>>,
}

/// CPU and memory of a set of processes at one moment.
#[derive(Debug, Clone, Copy, Default)]
struct Reading {
    cpu_ticks: u64,
    rss_bytes: u64,
}

impl Sampler {
    pub fn start() -> Sampler {
        let targets = Arc::new(Mutex::new(BTreeMap::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (watched, stopping) = (Arc::clone(&targets), Arc::clone(&stop));
        let handle = std::thread::spawn(move || sample(&watched, &stopping));
        Sampler {
            targets,
            stop,
            handle,
        }
    }

    /// Watches `target` as `name` (a restarted part keeps its name and account). With
    /// `from_now`, what its processes used before the first sample does not count.
    pub fn watch(&self, name: &str, target: Target, from_now: bool) {
        if let Ok(mut targets) = self.targets.lock() {
            targets.insert(name.to_owned(), Watched { target, from_now });
        }
    }

    pub fn finish(self) -> BTreeMap<String, ResourceUse> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().unwrap_or_default()
    }
}

fn sample(
    targets: &Mutex<BTreeMap<String, Watched>>,
    stop: &AtomicBool,
) -> BTreeMap<String, ResourceUse> {
    let tick = clock_ticks_per_second();
    let page = page_size();
    let started = Instant::now();
    let mut accounts: BTreeMap<String, ResourceUse> = BTreeMap::new();
    // Per part, the processes' CPU ticks at the previous sample (a process that ends takes its
    // ticks with it; one that starts counts from zero).
    let mut previous: BTreeMap<String, BTreeMap<u32, u64>> = BTreeMap::new();
    let mut next = Instant::now();
    loop {
        let last_round = stop.load(Ordering::Relaxed);
        let watched: Vec<(String, Watched)> = targets
            .lock()
            .map(|t| t.iter().map(|(k, v)| (k.clone(), *v)).collect())
            .unwrap_or_default();
        let processes = all_processes();
        for (name, watched) in watched {
            let pids: Vec<u32> = match watched.target {
                Target::Own => vec![std::process::id()],
                Target::Group(pgid) => processes
                    .iter()
                    .filter(|p| p.pgrp == pgid)
                    .map(|p| p.pid)
                    .collect(),
            };
            let first = !previous.contains_key(&name);
            let before = previous.entry(name.clone()).or_default();
            let mut now_ticks = BTreeMap::new();
            let mut reading = Reading::default();
            let mut delta = 0u64;
            for pid in pids {
                let Some(p) = processes.iter().find(|p| p.pid == pid) else {
                    continue;
                };
                delta += p
                    .cpu_ticks
                    .saturating_sub(before.get(&pid).copied().unwrap_or(0));
                now_ticks.insert(pid, p.cpu_ticks);
                reading.cpu_ticks += p.cpu_ticks;
                reading.rss_bytes += p.rss_pages * page;
            }
            *before = now_ticks;
            let account = accounts.entry(name).or_default();
            let cpu = if first && watched.from_now {
                0.0
            } else {
                delta as f64 / tick
            };
            account.cpu_seconds += cpu;
            account.peak_rss_bytes = account.peak_rss_bytes.max(reading.rss_bytes);
            account.series.push(ResourceSample {
                t: started.elapsed().as_secs(),
                cpu,
                rss_bytes: reading.rss_bytes,
            });
        }
        if last_round {
            break;
        }
        next += Duration::from_secs(1);
        while Instant::now() < next && !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    accounts.values_mut().for_each(ResourceUse::finish);
    accounts
}

/// A process as `/proc/<pid>/stat` describes it.
#[derive(Debug, Clone, Copy)]
struct Process {
    pid: u32,
    pgrp: u32,
    cpu_ticks: u64,
    rss_pages: u64,
}

/// Every process of the machine (those that vanish while read are skipped).
fn all_processes() -> Vec<Process> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|entry| {
        let pid: u32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        parse_stat(pid, &stat)
    })
    .collect()
}

/// Reads pgrp (field 5), utime and stime (14, 15) and rss (24) of a `stat` line. The command
/// name (field 2) is in parentheses and may hold spaces: fields are counted after its `)`.
fn parse_stat(pid: u32, stat: &str) -> Option<Process> {
    let after = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // `fields[0]` is field 3 (state).
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    Some(Process {
        pid,
        pgrp: u32::try_from(field(5)?).ok()?,
        cpu_ticks: field(14)? + field(15)?,
        rss_pages: field(24)?,
    })
}

fn clock_ticks_per_second() -> f64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .map_or(100.0, |t| t as f64)
}

fn page_size() -> u64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .map_or(4096, |p| p as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_are_read_after_the_command_name() {
        let line = "4242 (java (kafka) x) S 1 4200 4200 0 -1 4194560 100 0 0 0 250 30 0 0 20 0 60 0 1000 3940248000 123456 18446744073709551615";
        let p = parse_stat(4242, line).unwrap();
        assert_eq!(
            (p.pid, p.pgrp, p.cpu_ticks, p.rss_pages),
            (4242, 4200, 280, 123456)
        );
        assert!(parse_stat(1, "garbage").is_none());
    }

    #[test]
    fn the_memory_slope_is_the_second_halfs() {
        // 40 s: 10 MB/s growth in the first half (start-up), then flat, then a steady leak.
        let flat: Vec<ResourceSample> = (0..40)
            .map(|t| ResourceSample {
                t,
                cpu: 0.0,
                rss_bytes: if t < 20 { t * 10_000_000 } else { 200_000_000 },
            })
            .collect();
        assert_eq!(rss_slope_per_min(&flat), Some(0.0));
        let leaking: Vec<ResourceSample> = (0..40)
            .map(|t| ResourceSample {
                t,
                cpu: 0.0,
                rss_bytes: 100_000_000 + t * 1_000,
            })
            .collect();
        let slope = rss_slope_per_min(&leaking).unwrap();
        assert!((slope - 60_000.0).abs() < 1e-6, "{slope}");
        // Ended before the last samples: those are not a fall to zero.
        let mut ended = leaking.clone();
        ended.extend((40..45).map(|t| ResourceSample {
            t,
            cpu: 0.0,
            rss_bytes: 0,
        }));
        assert_eq!(rss_slope_per_min(&ended), Some(slope));
        assert_eq!(rss_slope_per_min(&leaking[..19]), None);
    }

    #[test]
    fn this_process_is_seen() {
        let me = all_processes()
            .into_iter()
            .find(|p| p.pid == std::process::id())
            .expect("this process in /proc");
        assert!(me.rss_pages > 0);
    }
}
