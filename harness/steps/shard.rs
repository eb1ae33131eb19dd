//! Sharding of `verify-backup --all-volumes` over machines the user already has (a CI matrix,
//! a Kubernetes Indexed Job): `--shard I/N` keeps the volumes whose rendezvous hash is highest
//! for shard `I` among `0..N`.
//!
//! Rendezvous (highest random weight) hashing: each volume is scored against every shard with
//! SHA-256 of `(volume, shard)` and belongs to the best-scoring one. Every volume lands in
//! exactly one shard (disjoint and covering); a volume's shard depends only on its own name
//! and `N`, so adding or removing other volumes never moves it; going from `N` to `N + 1`
//! shards moves only the volumes the new shard wins (about `1/(N+1)` of them).

use sha2::{Digest, Sha256};

/// Environment variable consulted when `--shard` names an index that Kubernetes did not
/// expand (`$(JOB_COMPLETION_INDEX)` left literal), or through `--shard env/N`.
pub const JOB_COMPLETION_INDEX: &str = "JOB_COMPLETION_INDEX";

/// One shard of `count`: `index` is 0-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Shard {
    /// 0-based shard index, `< count`.
    pub index: u32,
    /// Number of shards, at least 1.
    pub count: u32,
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    /// Parses `I/N` (0-based `I < N`). `I` may also be `$(JOB_COMPLETION_INDEX)`,
    /// `${JOB_COMPLETION_INDEX}`, `JOB_COMPLETION_INDEX` or `env`, read from the environment
    /// through `env` (for runners that pass the argument unexpanded).
    ///
    /// # Errors
    /// A message saying what is wrong and the accepted form.
    pub fn parse_with(text: &str, env: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let form = "use I/N with 0 <= I < N, e.g. --shard 0/4 or --shard $(JOB_COMPLETION_INDEX)/4";
        let (i, n) = text
            .split_once('/')
            .ok_or_else(|| format!("shard {text:?} is not I/N: {form}"))?;
        let i = i.trim();
        let i_text = match i {
            "env"
            | "JOB_COMPLETION_INDEX"
            | "$(JOB_COMPLETION_INDEX)"
            | "${JOB_COMPLETION_INDEX}" => env(JOB_COMPLETION_INDEX).ok_or_else(|| {
                format!(
                    "shard {text:?} takes its index from {JOB_COMPLETION_INDEX}, which is not \
                         set (an Indexed Job sets it; elsewhere give the number)"
                )
            })?,
            other => other.to_string(),
        };
        let index: u32 = i_text
            .trim()
            .parse()
            .map_err(|_| format!("shard index {i_text:?} in {text:?} is not a number: {form}"))?;
        let count: u32 = n
            .trim()
            .parse()
            .map_err(|_| format!("shard count {n:?} in {text:?} is not a number: {form}"))?;
        if count == 0 || index >= count {
            return Err(format!("shard {index}/{count} is out of range: {form}"));
        }
        Ok(Self { index, count })
    }

    /// [`parse_with`](Self::parse_with) reading the process environment.
    ///
    /// # Errors
    /// As [`parse_with`](Self::parse_with).
    pub fn parse(text: &str) -> Result<Self, String> {
        Self::parse_with(text, |k| std::env::var(k).ok())
    }

    /// Whether `volume` belongs to this shard.
    pub fn owns(&self, volume: &str) -> bool {
        shard_of(volume, self.count) == self.index
    }

    /// The volumes of `volumes` this shard owns, in their order.
    pub fn select(&self, volumes: Vec<String>) -> Vec<String> {
        volumes.into_iter().filter(|v| self.owns(v)).collect()
    }
}

fn weight(volume: &str, shard: u32) -> u64 {
    let mut h = Sha256::new();
    h.update(volume.as_bytes());
    // A separator no volume name contains (Longhorn names are [a-z0-9-.]), so (name, shard)
    // pairs never collide by concatenation.
    h.update([0u8]);
    h.update(shard.to_le_bytes());
    let d = h.finalize();
    u64::from_le_bytes(d[..8].try_into().expect("8 bytes"))
}

/// The shard (of `count`) that owns `volume`: the one with the highest rendezvous weight
/// (ties, practically impossible, go to the lower index). `count` 0 is treated as 1.
pub fn shard_of(volume: &str, count: u32) -> u32 {
    (0..count.max(1))
        .max_by_key(|s| (weight(volume, *s), std::cmp::Reverse(*s)))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn env_none(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn parses_numbers_and_the_job_completion_index() {
        assert_eq!(
            Shard::parse_with("2/5", env_none),
            Ok(Shard { index: 2, count: 5 })
        );
        let env = |k: &str| (k == JOB_COMPLETION_INDEX).then(|| "3".to_string());
        for text in [
            "$(JOB_COMPLETION_INDEX)/4",
            "env/4",
            "${JOB_COMPLETION_INDEX}/4",
        ] {
            assert_eq!(
                Shard::parse_with(text, env),
                Ok(Shard { index: 3, count: 4 }),
                "{text}"
            );
        }
        for (bad, says) in [
            ("4/4", "out of range"),
            ("0/0", "out of range"),
            ("x/4", "not a number"),
            ("3", "not I/N"),
            ("env/4", "not set"),
        ] {
            let e = Shard::parse_with(bad, env_none).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    fn volume_names() -> impl Strategy<Value = BTreeSet<String>> {
        proptest::collection::btree_set("[a-z][a-z0-9-]{0,20}", 0..60)
    }

    proptest! {
        #[test]
        fn shards_are_disjoint_and_cover_every_volume(vols in volume_names(), n in 1u32..12) {
            let all: Vec<String> = vols.iter().cloned().collect();
            let mut seen = BTreeSet::new();
            for i in 0..n {
                for v in (Shard { index: i, count: n }).select(all.clone()) {
                    prop_assert!(seen.insert(v.clone()), "{} in two shards", v);
                }
            }
            prop_assert_eq!(seen, vols);
        }

        #[test]
        fn adding_volumes_moves_no_existing_volume(
            vols in volume_names(), more in volume_names(), n in 1u32..12,
        ) {
            // Another volume set around it changes nothing: the assignment is per volume.
            let mut grown: Vec<String> = vols.iter().chain(more.iter()).cloned().collect();
            grown.sort();
            let selected: Vec<BTreeSet<String>> = (0..n)
                .map(|i| (Shard { index: i, count: n }).select(grown.clone()).into_iter().collect())
                .collect();
            for v in &vols {
                let before = shard_of(v, n);
                let owner = (0..n).find(|i| selected[*i as usize].contains(v));
                prop_assert_eq!(owner, Some(before));
            }
        }

        #[test]
        fn one_more_shard_moves_volumes_only_to_the_new_shard(vols in volume_names(), n in 1u32..12) {
            for v in &vols {
                let (a, b) = (shard_of(v, n), shard_of(v, n + 1));
                prop_assert!(a == b || b == n, "{} moved from {} to {} (not the new shard)", v, a, b);
            }
        }
    }

    #[test]
    fn shards_are_roughly_balanced() {
        let n = 4;
        let mut counts = [0usize; 4];
        for i in 0..4000 {
            counts[shard_of(&format!("pvc-{i}"), n) as usize] += 1;
        }
        assert!(
            counts.iter().all(|c| (850..=1150).contains(c)),
            "{counts:?}"
        );
    }
}
