//! What the numbers were measured on: cores, CPU model, memory, OS, toolchain, load.

use std::process::Command;

/// The machine, read from `/proc` and `/etc/os-release` (Linux); unknown fields say so.
#[derive(Debug, Clone)]
pub struct Machine {
    /// Logical CPUs available to this process.
    pub cores: usize,
    /// `model name` of the first CPU in `/proc/cpuinfo`.
    pub cpu_model: String,
    /// `MemTotal` from `/proc/meminfo`.
    pub memory: String,
    /// `PRETTY_NAME` from `/etc/os-release`.
    pub os: String,
    /// Kernel release.
    pub kernel: String,
    /// `rustc --version` (the compiler on PATH when the harness ran).
    pub rustc: String,
    /// Python used for the SDK scenarios (`python3 --version`).
    pub python: String,
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn command_line(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .map(|o| {
            let text = if o.stdout.is_empty() {
                o.stderr
            } else {
                o.stdout
            };
            String::from_utf8_lossy(&text).trim().to_owned()
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

impl Machine {
    /// Probe the current machine.
    pub fn probe(python: &str) -> Self {
        let cpuinfo = read("/proc/cpuinfo");
        let cpu_model = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .and_then(|rest| rest.split_once(':'))
            .map(|(_, v)| v.trim().to_owned())
            .unwrap_or_else(|| "unknown".to_owned());
        let memory = read("/proc/meminfo")
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .map(|kb| format!("{:.1} GiB", kb as f64 / (1024.0 * 1024.0)))
            .unwrap_or_else(|| "unknown".to_owned());
        let os = read("/etc/os-release")
            .lines()
            .find_map(|l| l.strip_prefix("PRETTY_NAME="))
            .map(|v| v.trim_matches('"').to_owned())
            .unwrap_or_else(|| std::env::consts::OS.to_owned());
        let kernel = read("/proc/sys/kernel/osrelease").trim().to_owned();
        Machine {
            cores: std::thread::available_parallelism().map_or(1, usize::from),
            cpu_model,
            memory,
            os,
            kernel: if kernel.is_empty() {
                "unknown".to_owned()
            } else {
                kernel
            },
            rustc: command_line("rustc", &["--version"]),
            python: command_line(python, &["--version"]),
        }
    }
}

/// The 1, 5 and 15 minute load averages (`/proc/loadavg`), e.g. `1.02 0.87 0.60`.
pub fn load_average() -> String {
    let text = read("/proc/loadavg");
    let fields: Vec<&str> = text.split_whitespace().take(3).collect();
    if fields.len() == 3 {
        fields.join(" ")
    } else {
        "unknown".to_owned()
    }
}

/// The 1-minute load average as a number (0 when unknown).
pub fn load_1min() -> f64 {
    read("/proc/loadavg")
        .split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// Peak and current resident set size of a process, from `/proc/<pid>/status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcMemory {
    /// `VmHWM`: peak resident set size, bytes.
    pub peak_rss: u64,
    /// `VmRSS`: current resident set size, bytes.
    pub rss: u64,
}

/// Read `VmHWM` and `VmRSS` of `pid` (`"self"` for this process).
pub fn proc_memory(pid: &str) -> Option<ProcMemory> {
    let status = read(&format!("/proc/{pid}/status"));
    let kb = |key: &str| -> Option<u64> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .map(|v| v * 1024)
    };
    Some(ProcMemory {
        peak_rss: kb("VmHWM:")?,
        rss: kb("VmRSS:")?,
    })
}
