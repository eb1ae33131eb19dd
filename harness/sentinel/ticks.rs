//! Ticks: `<unix millis> <sequence> <run id>` lines appended to the sentinel volume until the
//! disaster. The newest tick that survives the restore dates the restored data, so the RPO (the
//! data-loss window) is measured rather than assumed.

/// One tick line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tick {
    /// Wall-clock time the harness wrote it, Unix milliseconds.
    pub unix_millis: i64,
    /// Position in the run's tick log: 1 for the first tick, one more for each after it.
    pub sequence: u64,
}

/// Renders one tick line (newline-terminated).
pub fn render(tick: Tick, run_id: &str) -> String {
    format!("{} {} {}\n", tick.unix_millis, tick.sequence, run_id)
}

/// The newest tick of `run_id` in a tick log; lines of other runs or torn lines are ignored.
pub fn last_tick(log: &str, run_id: &str) -> Option<Tick> {
    log.lines()
        .filter_map(|line| {
            let mut parts = line.split(' ');
            let unix_millis = parts.next()?.parse().ok()?;
            let sequence = parts.next()?.parse().ok()?;
            (parts.next()? == run_id && parts.next().is_none()).then_some(Tick {
                unix_millis,
                sequence,
            })
        })
        .max_by_key(|t| t.sequence)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_tick_of_this_run_wins() {
        let log = format!(
            "{}{}{}1700000009000 9 other-run\n17000000",
            render(
                Tick {
                    unix_millis: 1_700_000_000_000,
                    sequence: 1
                },
                "r"
            ),
            render(
                Tick {
                    unix_millis: 1_700_000_001_000,
                    sequence: 2
                },
                "r"
            ),
            "garbage line\n",
        );
        assert_eq!(
            last_tick(&log, "r"),
            Some(Tick {
                unix_millis: 1_700_000_001_000,
                sequence: 2
            })
        );
        assert_eq!(last_tick(&log, "nobody"), None);
    }
}
