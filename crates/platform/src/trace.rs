//! W3C trace context (`traceparent`), carried from the webhook through both bus hops to the send,
//! so one customer message can be followed across ingest, processor and dispatcher.
//!
//! Format: `00-{trace id: 32 hex}-{parent id: 16 hex}-{flags: 2 hex}`; all-zero ids are invalid.

use rand::Rng;

/// A trace context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceParent {
    trace_id: u128,
    parent_id: u64,
    flags: u8,
}

impl TraceParent {
    /// Parses a `traceparent` header; `None` when malformed or all-zero.
    pub fn parse(header: &str) -> Option<Self> {
        let mut parts = header.trim().split('-');
        let (Some(version), Some(trace), Some(parent), Some(flags)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        if version.len() != 2
            || version == "ff"
            || trace.len() != 32
            || parent.len() != 16
            || flags.len() != 2
        {
            return None;
        }
        let lower_hex = |s: &str| {
            s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        };
        if ![version, trace, parent, flags].iter().all(|s| lower_hex(s)) {
            return None;
        }
        let trace_id = u128::from_str_radix(trace, 16).ok()?;
        let parent_id = u64::from_str_radix(parent, 16).ok()?;
        let flags = u8::from_str_radix(flags, 16).ok()?;
        (trace_id != 0 && parent_id != 0).then_some(Self {
            trace_id,
            parent_id,
            flags,
        })
    }

    /// A new sampled trace.
    pub fn new_root() -> Self {
        let mut rng = rand::rng();
        Self {
            trace_id: rng.random_range(1..=u128::MAX),
            parent_id: rng.random_range(1..=u64::MAX),
            flags: 1,
        }
    }

    /// The same trace with a new span id: what a service passes on.
    pub fn child(&self) -> Self {
        Self {
            parent_id: rand::rng().random_range(1..=u64::MAX),
            ..*self
        }
    }

    /// Continues `header` when it is valid, starts a new trace otherwise.
    pub fn continue_or_start(header: Option<&str>) -> Self {
        header
            .and_then(Self::parse)
            .map_or_else(Self::new_root, |t| t.child())
    }

    /// The trace id as 32 hex digits.
    pub fn trace_id(&self) -> String {
        format!("{:032x}", self.trace_id)
    }
}

impl std::fmt::Display for TraceParent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "00-{:032x}-{:016x}-{:02x}",
            self.trace_id, self.parent_id, self.flags
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_canonical_example_round_trips() {
        let h = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let t = TraceParent::parse(h).unwrap();
        assert_eq!(t.to_string(), h);
        assert_eq!(t.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
        let child = t.child();
        assert_eq!(child.trace_id(), t.trace_id());
        assert_ne!(child.to_string(), h);
    }

    #[test]
    fn invalid_headers_start_a_new_trace() {
        for bad in [
            "",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f35-00f067aa0ba902b7-01",
        ] {
            assert!(TraceParent::parse(bad).is_none(), "{bad:?}");
        }
        assert!(
            TraceParent::parse(&TraceParent::continue_or_start(Some("junk")).to_string()).is_some()
        );
    }
}
