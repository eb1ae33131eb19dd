//! Pod log texts, as `kubectl logs` reads them: appended by Job runs and by the controllers,
//! kept per namespace, pod and container, lost with the cluster (`clear`).

use std::collections::HashMap;
use std::sync::Mutex;

/// The container key of text appended without a container name: the pod's default container.
const DEFAULT_CONTAINER: &str = "";

/// One pod's logs, in the order containers first logged.
#[derive(Debug, Default)]
struct PodLogs {
    order: Vec<String>,
    texts: HashMap<String, String>,
}

/// Thread-safe log store keyed by `(namespace, pod)`, then container.
#[derive(Debug, Default)]
pub struct LogStore {
    pods: Mutex<HashMap<(String, String), PodLogs>>,
}

impl LogStore {
    fn with<R>(&self, f: impl FnOnce(&mut HashMap<(String, String), PodLogs>) -> R) -> R {
        // Poisoning only means a panic elsewhere mid-append; the text is still valid UTF-8.
        let mut guard = self.pods.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut guard)
    }

    /// Appends `text` to the log of the pod's default container.
    pub fn append(&self, namespace: &str, pod: &str, text: &str) {
        self.append_container(namespace, pod, DEFAULT_CONTAINER, text);
    }

    /// Appends `text` to the log of `container` of the pod.
    pub fn append_container(&self, namespace: &str, pod: &str, container: &str, text: &str) {
        self.with(|pods| {
            let logs = pods
                .entry((namespace.to_owned(), pod.to_owned()))
                .or_default();
            if !logs.texts.contains_key(container) {
                logs.order.push(container.to_owned());
            }
            logs.texts
                .entry(container.to_owned())
                .or_default()
                .push_str(text);
        });
    }

    /// The log of `container` (`None` = the first container that logged); text appended without
    /// a container name answers for any container. `None` when nothing was logged.
    pub fn get(&self, namespace: &str, pod: &str, container: Option<&str>) -> Option<String> {
        self.with(|pods| {
            let logs = pods.get(&(namespace.to_owned(), pod.to_owned()))?;
            let key = match container {
                Some(c) if logs.texts.contains_key(c) => c,
                Some(_) => DEFAULT_CONTAINER,
                None => logs.order.first()?.as_str(),
            };
            logs.texts.get(key).cloned()
        })
    }

    /// Forgets one pod's logs (pod deleted).
    pub fn remove(&self, namespace: &str, pod: &str) {
        self.with(|pods| pods.remove(&(namespace.to_owned(), pod.to_owned())));
    }

    /// Forgets every log (cluster destroyed).
    pub fn clear(&self) {
        self.with(HashMap::clear);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_per_container_and_defaults_to_first() {
        let s = LogStore::default();
        s.append_container("ns", "p", "main", "a\n");
        s.append_container("ns", "p", "side", "s\n");
        s.append_container("ns", "p", "main", "b\n");
        assert_eq!(s.get("ns", "p", None).as_deref(), Some("a\nb\n"));
        assert_eq!(s.get("ns", "p", Some("side")).as_deref(), Some("s\n"));
        assert_eq!(s.get("ns", "q", None), None);
        s.append("ns", "q", "x");
        assert_eq!(s.get("ns", "q", Some("anything")).as_deref(), Some("x"));
        s.remove("ns", "p");
        assert_eq!(s.get("ns", "p", None), None);
        s.clear();
        assert_eq!(s.get("ns", "q", None), None);
    }
}
