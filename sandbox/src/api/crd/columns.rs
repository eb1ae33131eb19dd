//! `additionalPrinterColumns`: the CRD's table columns, evaluated as the API server's table
//! convertor does (k8s.io/apiextensions-apiserver v0.32.13
//! `pkg/registry/customresource/tableconvertor/tableconvertor.go`): the first JSONPath result
//! only; missing → `null` cell; `string` columns print the value (objects as JSON), `integer`/
//! `number`/`boolean` keep JSON types, `date` renders as a human duration since then
//! (k8s.io/apimachinery `pkg/util/duration.HumanDuration`).
//!
//! JSONPath subset: `.a.b`, `['key']`, `[n]`, `[*]`, and filters `[?(@.k=='v')]` — every form
//! Longhorn's CRDs v1.7.1–v1.10.1 use.

use serde_json::{json, Value};

/// One printer column.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// Header, e.g. `State`.
    pub name: String,
    /// `string`, `integer`, `number`, `boolean` or `date`.
    pub type_name: String,
    /// `format`, usually empty.
    pub format: String,
    /// Description shown by `kubectl explain`-like tools.
    pub description: String,
    /// 0 = default table; > 0 only with `-o wide`.
    pub priority: i64,
    /// The JSONPath, e.g. `.status.state`.
    pub json_path: String,
}

impl Column {
    /// Parses one `additionalPrinterColumns` entry.
    pub fn parse(v: &Value) -> Column {
        let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let json_path = s("jsonPath");
        let mut description = s("description");
        if description.is_empty() {
            description =
                format!("Custom resource definition column (in JSONPath format): {json_path}");
        }
        Column {
            name: s("name"),
            type_name: s("type"),
            format: s("format"),
            description,
            priority: v.get("priority").and_then(Value::as_i64).unwrap_or(0),
            json_path,
        }
    }

    /// The Table column definition.
    pub fn definition(&self) -> Value {
        json!({"name": self.name, "type": self.type_name, "format": self.format,
               "description": self.description, "priority": self.priority})
    }

    /// The cell for `obj`, `now` being the current time (for `date` columns).
    pub fn cell(&self, obj: &Value, now: chrono::DateTime<chrono::Utc>) -> Value {
        let Some(v) = eval(&self.json_path, obj).into_iter().next() else {
            return Value::Null;
        };
        match self.type_name.as_str() {
            "string" => match v {
                Value::String(s) => json!(s),
                Value::Null => Value::Null,
                other => json!(other.to_string()),
            },
            "integer" => match v {
                Value::Number(n) => n
                    .as_i64()
                    .map(|i| json!(i))
                    .or_else(|| n.as_f64().map(|f| json!(f as i64)))
                    .unwrap_or(Value::Null),
                _ => Value::Null,
            },
            "number" => v.as_f64().map(|f| json!(f)).unwrap_or(Value::Null),
            "boolean" => v.as_bool().map(|b| json!(b)).unwrap_or(Value::Null),
            "date" => match v.as_str() {
                Some(s) => match chrono::DateTime::parse_from_rfc3339(s) {
                    Ok(t) => json!(human_duration(now - t.with_timezone(&chrono::Utc))),
                    Err(_) => json!("<invalid>"),
                },
                None => Value::Null,
            },
            _ => Value::Null,
        }
    }
}

#[derive(Debug, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
    All,
    Filter(String, String),
}

fn parse_path(path: &str) -> Option<Vec<Step>> {
    let mut steps = Vec::new();
    let mut rest = path.trim();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            if end > 0 {
                steps.push(Step::Key(r[..end].to_string()));
            }
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            let inner = r[..end].trim();
            rest = &r[end + 1..];
            if inner == "*" {
                steps.push(Step::All);
            } else if let Some(f) = inner.strip_prefix("?(@.").and_then(|f| f.strip_suffix(')')) {
                let (k, v) = f.split_once("==")?;
                let v = v.trim().trim_matches(|c| c == '\'' || c == '"');
                steps.push(Step::Filter(k.trim().to_string(), v.to_string()));
            } else if let Ok(i) = inner.parse() {
                steps.push(Step::Index(i));
            } else {
                steps.push(Step::Key(
                    inner.trim_matches(|c| c == '\'' || c == '"').to_string(),
                ));
            }
        } else {
            return None;
        }
    }
    Some(steps)
}

/// Every value `path` selects in `obj` (missing keys select nothing).
pub fn eval<'a>(path: &str, obj: &'a Value) -> Vec<&'a Value> {
    let Some(steps) = parse_path(path) else {
        return Vec::new();
    };
    let mut cur = vec![obj];
    for step in steps {
        let mut next = Vec::new();
        for v in cur {
            match &step {
                Step::Key(k) => next.extend(v.get(k.as_str())),
                Step::Index(i) => next.extend(v.get(*i)),
                Step::All => match v {
                    Value::Array(a) => next.extend(a.iter()),
                    Value::Object(m) => next.extend(m.values()),
                    _ => {}
                },
                Step::Filter(k, want) => {
                    let items: Vec<&Value> = match v {
                        Value::Array(a) => a.iter().collect(),
                        Value::Object(m) => m.values().collect(),
                        _ => Vec::new(),
                    };
                    next.extend(items.into_iter().filter(|it| {
                        it.get(k.as_str()).is_some_and(|x| match x {
                            Value::String(s) => s == want,
                            other => want.as_str() == other.to_string().as_str(),
                        })
                    }));
                }
            }
        }
        cur = next;
    }
    cur
}

/// apimachinery's `HumanDuration`: `45s`, `5m10s`, `15m`, `3h5m`, `20h`, `3d4h`, `30d`, `2y5d`.
pub fn human_duration(d: chrono::Duration) -> String {
    let secs = d.num_seconds();
    if secs < -1 {
        return "<invalid>".into();
    }
    if secs < 0 {
        return "0s".into();
    }
    if secs < 120 {
        return format!("{secs}s");
    }
    let minutes = secs / 60;
    if minutes < 10 {
        let s = secs % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = secs / 3600;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        return if dy == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{dy}d", hours / 24 / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_filters() {
        let o = json!({"status": {"state": "attached", "conditions": [
            {"type": "Ready", "status": "True"}, {"type": "Schedulable", "status": "False"}]},
            "m": {"Ready": {"status": "x"}}});
        assert_eq!(eval(".status.state", &o), vec![&json!("attached")]);
        assert_eq!(
            eval(".status.conditions[?(@.type=='Schedulable')].status", &o),
            vec![&json!("False")]
        );
        assert_eq!(eval(".m['Ready']['status']", &o), vec![&json!("x")]);
        assert!(eval(".status.nothing", &o).is_empty());
    }

    #[test]
    fn durations_like_apimachinery() {
        let d = chrono::Duration::seconds;
        assert_eq!(human_duration(d(45)), "45s");
        assert_eq!(human_duration(d(310)), "5m10s");
        assert_eq!(human_duration(d(900)), "15m");
        assert_eq!(human_duration(d(3 * 3600 + 300)), "3h5m");
        assert_eq!(human_duration(d(20 * 3600)), "20h");
        assert_eq!(human_duration(d(3 * 86_400 + 4 * 3600)), "3d4h");
    }
}
