//! Records of the internal `__consumer_offsets` topic, in Kafka's formats so that
//! operators' tools can read them: offset commits (key version 1, value version 3)
//! and group metadata (key version 2, value version 3). A null value deletes.

use bytes::{Buf, BufMut, Bytes, BytesMut};

const OFFSET_KEY_VERSION: i16 = 1;
const GROUP_KEY_VERSION: i16 = 2;
const OFFSET_VALUE_VERSION: i16 = 3;
const GROUP_VALUE_VERSION: i16 = 3;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Key {
    Offset { group: String, topic: String, partition: i32 },
    Group { group: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetValue {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: String,
    pub commit_timestamp_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberValue {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub session_timeout_ms: i32,
    pub subscription: Bytes,
    pub assignment: Bytes,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupValue {
    pub protocol_type: String,
    pub generation_id: i32,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    pub state_timestamp_ms: i64,
    pub members: Vec<MemberValue>,
}

#[derive(Debug, thiserror::Error)]
#[error("malformed __consumer_offsets record: {0}")]
pub struct RecordError(&'static str);

fn put_str(b: &mut BytesMut, s: &str) {
    b.put_i16(s.len() as i16);
    b.put_slice(s.as_bytes());
}

fn put_nullable_str(b: &mut BytesMut, s: Option<&str>) {
    match s {
        Some(s) => put_str(b, s),
        None => b.put_i16(-1),
    }
}

fn put_bytes(b: &mut BytesMut, v: &[u8]) {
    b.put_i32(v.len() as i32);
    b.put_slice(v);
}

fn need(b: &impl Buf, n: usize) -> Result<(), RecordError> {
    if b.remaining() < n {
        Err(RecordError("truncated"))
    } else {
        Ok(())
    }
}

fn get_str(b: &mut Bytes) -> Result<String, RecordError> {
    get_nullable_str(b)?.ok_or(RecordError("unexpected null string"))
}

fn get_nullable_str(b: &mut Bytes) -> Result<Option<String>, RecordError> {
    need(b, 2)?;
    let n = b.get_i16();
    if n < 0 {
        return Ok(None);
    }
    need(b, n as usize)?;
    let s = b.split_to(n as usize);
    String::from_utf8(s.to_vec()).map(Some).map_err(|_| RecordError("string is not UTF-8"))
}

fn get_bytes(b: &mut Bytes) -> Result<Bytes, RecordError> {
    need(b, 4)?;
    let n = b.get_i32();
    if n < 0 {
        return Ok(Bytes::new());
    }
    need(b, n as usize)?;
    Ok(b.split_to(n as usize))
}

impl Key {
    pub fn encode(&self) -> Bytes {
        let mut b = BytesMut::new();
        match self {
            Key::Offset { group, topic, partition } => {
                b.put_i16(OFFSET_KEY_VERSION);
                put_str(&mut b, group);
                put_str(&mut b, topic);
                b.put_i32(*partition);
            }
            Key::Group { group } => {
                b.put_i16(GROUP_KEY_VERSION);
                put_str(&mut b, group);
            }
        }
        b.freeze()
    }

    pub fn decode(mut b: Bytes) -> Result<Key, RecordError> {
        need(&b, 2)?;
        match b.get_i16() {
            0 | 1 => {
                let group = get_str(&mut b)?;
                let topic = get_str(&mut b)?;
                need(&b, 4)?;
                Ok(Key::Offset { group, topic, partition: b.get_i32() })
            }
            2 => Ok(Key::Group { group: get_str(&mut b)? }),
            _ => Err(RecordError("unknown key version")),
        }
    }

    pub fn group(&self) -> &str {
        match self {
            Key::Offset { group, .. } | Key::Group { group } => group,
        }
    }
}

impl OffsetValue {
    pub fn encode(&self) -> Bytes {
        let mut b = BytesMut::new();
        b.put_i16(OFFSET_VALUE_VERSION);
        b.put_i64(self.offset);
        b.put_i32(self.leader_epoch);
        put_str(&mut b, &self.metadata);
        b.put_i64(self.commit_timestamp_ms);
        b.freeze()
    }

    pub fn decode(mut b: Bytes) -> Result<OffsetValue, RecordError> {
        need(&b, 2)?;
        let version = b.get_i16();
        need(&b, 8)?;
        let offset = b.get_i64();
        let leader_epoch = if version >= 3 {
            need(&b, 4)?;
            b.get_i32()
        } else {
            -1
        };
        let metadata = get_str(&mut b)?;
        need(&b, 8)?;
        Ok(OffsetValue { offset, leader_epoch, metadata, commit_timestamp_ms: b.get_i64() })
    }
}

impl GroupValue {
    pub fn encode(&self) -> Bytes {
        let mut b = BytesMut::new();
        b.put_i16(GROUP_VALUE_VERSION);
        put_str(&mut b, &self.protocol_type);
        b.put_i32(self.generation_id);
        put_nullable_str(&mut b, self.protocol.as_deref());
        put_nullable_str(&mut b, self.leader.as_deref());
        b.put_i64(self.state_timestamp_ms);
        b.put_i32(self.members.len() as i32);
        for m in &self.members {
            put_str(&mut b, &m.member_id);
            put_nullable_str(&mut b, m.instance_id.as_deref());
            put_str(&mut b, &m.client_id);
            put_str(&mut b, &m.client_host);
            b.put_i32(m.rebalance_timeout_ms);
            b.put_i32(m.session_timeout_ms);
            put_bytes(&mut b, &m.subscription);
            put_bytes(&mut b, &m.assignment);
        }
        b.freeze()
    }

    pub fn decode(mut b: Bytes) -> Result<GroupValue, RecordError> {
        need(&b, 2)?;
        if b.get_i16() != GROUP_VALUE_VERSION {
            return Err(RecordError("unsupported group value version"));
        }
        let protocol_type = get_str(&mut b)?;
        need(&b, 4)?;
        let generation_id = b.get_i32();
        let protocol = get_nullable_str(&mut b)?;
        let leader = get_nullable_str(&mut b)?;
        need(&b, 12)?;
        let state_timestamp_ms = b.get_i64();
        let n = b.get_i32();
        // each member takes at least 24 bytes: bound the count by what is there
        if n < 0 || n as usize > b.remaining() / 24 + 1 {
            return Err(RecordError("bad member count"));
        }
        let mut members = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let member_id = get_str(&mut b)?;
            let instance_id = get_nullable_str(&mut b)?;
            let client_id = get_str(&mut b)?;
            let client_host = get_str(&mut b)?;
            need(&b, 8)?;
            let rebalance_timeout_ms = b.get_i32();
            let session_timeout_ms = b.get_i32();
            let subscription = get_bytes(&mut b)?;
            let assignment = get_bytes(&mut b)?;
            members.push(MemberValue {
                member_id,
                instance_id,
                client_id,
                client_host,
                rebalance_timeout_ms,
                session_timeout_ms,
                subscription,
                assignment,
            });
        }
        Ok(GroupValue { protocol_type, generation_id, protocol, leader, state_timestamp_ms, members })
    }
}

/// Java's `String.hashCode`, which Kafka uses to place a group on an offsets
/// partition; kept identical so that tools agree on where a group lives.
pub fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16().fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(c as i32))
}

/// The `__consumer_offsets` partition of a group.
pub fn partition_for(group: &str, partitions: i32) -> i32 {
    (java_string_hash(group) & 0x7fff_ffff) % partitions
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_values_round_trip() {
        let k = Key::Offset { group: "g".into(), topic: "t".into(), partition: 3 };
        assert_eq!(Key::decode(k.encode()).unwrap(), k);
        let k = Key::Group { group: "g2".into() };
        assert_eq!(Key::decode(k.encode()).unwrap(), k);
        let v = OffsetValue { offset: 42, leader_epoch: 1, metadata: "m".into(), commit_timestamp_ms: 7 };
        assert_eq!(OffsetValue::decode(v.encode()).unwrap(), v);
        let g = GroupValue {
            protocol_type: "consumer".into(),
            generation_id: 5,
            protocol: Some("range".into()),
            leader: Some("m1".into()),
            state_timestamp_ms: 9,
            members: vec![MemberValue {
                member_id: "m1".into(),
                instance_id: None,
                client_id: "c".into(),
                client_host: "/127.0.0.1".into(),
                rebalance_timeout_ms: 1,
                session_timeout_ms: 2,
                subscription: Bytes::from_static(b"s"),
                assignment: Bytes::from_static(b"a"),
            }],
        };
        assert_eq!(GroupValue::decode(g.encode()).unwrap(), g);
        assert!(GroupValue::decode(Bytes::from_static(&[0, 3, 0])).is_err());
    }

    #[test]
    fn group_placement_matches_java() {
        // "hello".hashCode() == 99162322 in Java
        assert_eq!(java_string_hash("hello"), 99162322);
        assert_eq!(partition_for("hello", 50), 99162322 % 50);
        assert!(partition_for("some-long-group-name-with-negative-hash-xyz", 50) >= 0);
    }
}
