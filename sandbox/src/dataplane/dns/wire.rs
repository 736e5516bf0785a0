//! The DNS wire format (RFC 1035) for the one thing the sandbox's server does: read a
//! single-question query and write an answer with name compression. Hand-rolled so the
//! sandbox needs no DNS crate; everything is bounds-checked, so no input can panic it.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};

pub const TYPE_A: u16 = 1;
pub const TYPE_NS: u16 = 2;
pub const TYPE_CNAME: u16 = 5;
pub const TYPE_SOA: u16 = 6;
pub const TYPE_TXT: u16 = 16;
pub const TYPE_AAAA: u16 = 28;
pub const TYPE_ANY: u16 = 255;
pub const CLASS_IN: u16 = 1;
pub const CLASS_ANY: u16 = 255;

/// The largest name on the wire (RFC 1035 §2.3.4), label length bytes included.
const MAX_NAME: usize = 255;
const MAX_LABEL: usize = 63;
/// Compression pointers followed while reading one name; a real name needs far fewer,
/// and the cap is what stops a pointer loop.
const MAX_POINTERS: usize = 32;

/// Response codes the server sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rcode {
    NoError = 0,
    FormErr = 1,
    ServFail = 2,
    NxDomain = 3,
    NotImp = 4,
    Refused = 5,
}

/// Why a packet could not be read (or a record not written).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("the packet ends inside {0}")]
    Short(&'static str),
    #[error("the packet is a response, not a query")]
    NotAQuery,
    #[error("{0} questions (one is supported)")]
    QuestionCount(u16),
    #[error("a label longer than 63 bytes")]
    LongLabel,
    #[error("a name longer than 255 bytes")]
    LongName,
    #[error("a compression pointer that does not point backwards")]
    BadPointer,
    #[error("reserved label type bits")]
    BadLabelType,
    #[error("an empty label inside a name")]
    EmptyLabel,
    #[error("a record value that cannot be encoded: {0}")]
    BadValue(String),
}

/// The header fields a response echoes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub id: u16,
    pub opcode: u8,
    pub rd: bool,
}

/// The one question of a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    /// Presentation form as the client sent it (case kept, trailing dot, `\ddd`
    /// escapes for bytes that are not plain), so the answer echoes it exactly.
    pub name: String,
    pub qtype: u16,
    pub qclass: u16,
}

/// A parsed query. Anything after the question (an EDNS0 OPT record, typically) is
/// tolerated and ignored: the server answers in plain DNS, which every client accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub header: Header,
    pub question: Question,
}

/// Reads the header alone: enough to answer FORMERR to a query whose body is bad.
/// `None` when there is no header, or the packet is a response (never answered, so
/// two servers cannot ping-pong).
pub fn parse_header(packet: &[u8]) -> Option<Header> {
    if packet.len() < 12 || packet[2] & 0x80 != 0 {
        return None;
    }
    Some(Header {
        id: u16::from_be_bytes([packet[0], packet[1]]),
        opcode: (packet[2] >> 3) & 0x0f,
        rd: packet[2] & 0x01 != 0,
    })
}

/// Reads a query with exactly one question.
pub fn parse_query(packet: &[u8]) -> Result<Query, WireError> {
    if packet.len() < 12 {
        return Err(WireError::Short("the header"));
    }
    let header = parse_header(packet).ok_or(WireError::NotAQuery)?;
    let qdcount = u16::from_be_bytes([packet[4], packet[5]]);
    if qdcount != 1 {
        return Err(WireError::QuestionCount(qdcount));
    }
    let (name, at) = read_name(packet, 12)?;
    let fixed = packet
        .get(at..at + 4)
        .ok_or(WireError::Short("the question"))?;
    Ok(Query {
        header,
        question: Question {
            name,
            qtype: u16::from_be_bytes([fixed[0], fixed[1]]),
            qclass: u16::from_be_bytes([fixed[2], fixed[3]]),
        },
    })
}

/// Reads a (possibly compressed) name at `start`; returns it in presentation form and
/// the offset just past it in the original position.
fn read_name(packet: &[u8], start: usize) -> Result<(String, usize), WireError> {
    let mut out = String::new();
    let mut pos = start;
    let mut end = None;
    let mut wire_len = 1;
    let mut jumps = 0;
    loop {
        let len = *packet.get(pos).ok_or(WireError::Short("a name"))? as usize;
        match len & 0xc0 {
            0x00 => {}
            0xc0 => {
                let low = *packet.get(pos + 1).ok_or(WireError::Short("a pointer"))? as usize;
                let target = ((len & 0x3f) << 8) | low;
                // Pointing backwards only (and a bounded number of times) rules out loops.
                if target >= pos || jumps >= MAX_POINTERS {
                    return Err(WireError::BadPointer);
                }
                jumps += 1;
                end.get_or_insert(pos + 2);
                pos = target;
                continue;
            }
            _ => return Err(WireError::BadLabelType),
        }
        if len == 0 {
            break;
        }
        wire_len += len + 1;
        if wire_len > MAX_NAME {
            return Err(WireError::LongName);
        }
        let label = packet
            .get(pos + 1..pos + 1 + len)
            .ok_or(WireError::Short("a label"))?;
        for &b in label {
            match b {
                b'.' | b'\\' => {
                    out.push('\\');
                    out.push(b as char);
                }
                0x21..=0x7e => out.push(b as char),
                _ => out.push_str(&format!("\\{b:03}")),
            }
        }
        out.push('.');
        pos += 1 + len;
    }
    if out.is_empty() {
        out.push('.');
    }
    Ok((out, end.unwrap_or(pos + 1)))
}

/// Splits a presentation-form name into wire labels (`\X` and `\ddd` escapes
/// understood). The root is no labels.
pub fn labels(name: &str) -> Result<Vec<Vec<u8>>, WireError> {
    let mut labels = Vec::new();
    let mut cur = Vec::new();
    let mut total = 1;
    let bytes = name.as_bytes();
    let mut i = 0;
    if name == "." {
        return Ok(labels);
    }
    while i < bytes.len() {
        match bytes[i] {
            b'.' => {
                if cur.is_empty() {
                    return Err(WireError::EmptyLabel);
                }
                total += cur.len() + 1;
                labels.push(std::mem::take(&mut cur));
                i += 1;
                continue;
            }
            b'\\' => {
                let digits = bytes
                    .get(i + 1..i + 4)
                    .filter(|d| d.iter().all(u8::is_ascii_digit));
                if let Some(d) = digits {
                    let v = (d[0] - b'0') as u32 * 100
                        + (d[1] - b'0') as u32 * 10
                        + (d[2] - b'0') as u32;
                    cur.push(u8::try_from(v).map_err(|_| WireError::BadValue(name.into()))?);
                    i += 4;
                } else {
                    cur.push(
                        *bytes
                            .get(i + 1)
                            .ok_or_else(|| WireError::BadValue(name.into()))?,
                    );
                    i += 2;
                }
            }
            b => {
                cur.push(b);
                i += 1;
            }
        }
        if cur.len() > MAX_LABEL {
            return Err(WireError::LongLabel);
        }
    }
    if !cur.is_empty() {
        total += cur.len() + 1;
        labels.push(cur);
    }
    if total > MAX_NAME {
        return Err(WireError::LongName);
    }
    Ok(labels)
}

/// A record's data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RData {
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    /// CNAME and NS: one name.
    Name(String),
    Soa {
        mname: String,
        rname: String,
        serial: u32,
        refresh: u32,
        retry: u32,
        expire: u32,
        minimum: u32,
    },
    /// Character strings, each at most 255 bytes.
    Txt(Vec<Vec<u8>>),
}

/// A resource record to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub name: String,
    pub rtype: u16,
    pub ttl: u32,
    pub data: RData,
}

/// What the server answers a query with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub rcode: Rcode,
    /// Authoritative: the name is in a hosted zone (or is an AWS name the sandbox owns).
    pub aa: bool,
    pub answers: Vec<Record>,
    pub authority: Vec<Record>,
}

impl Answer {
    pub fn rcode(rcode: Rcode) -> Self {
        Answer {
            rcode,
            aa: false,
            answers: Vec::new(),
            authority: Vec::new(),
        }
    }
}

/// Builds one message, compressing names against those already written.
struct Writer {
    buf: Vec<u8>,
    /// Lower-cased wire form of a name suffix -> where it was written.
    names: HashMap<Vec<u8>, u16>,
}

impl Writer {
    fn new(header: Header, flags_low: u8, aa: bool, tc: bool) -> Self {
        let mut buf = Vec::with_capacity(512);
        buf.extend_from_slice(&header.id.to_be_bytes());
        let mut hi = 0x80 | (header.opcode << 3) | u8::from(header.rd);
        if aa {
            hi |= 0x04;
        }
        if tc {
            hi |= 0x02;
        }
        buf.push(hi);
        buf.push(flags_low);
        buf.extend_from_slice(&[0; 8]);
        Writer {
            buf,
            names: HashMap::new(),
        }
    }

    fn set_count(&mut self, index: usize, n: u16) {
        self.buf[4 + 2 * index..6 + 2 * index].copy_from_slice(&n.to_be_bytes());
    }

    fn name(&mut self, name: &str) -> Result<(), WireError> {
        let labels = labels(name)?;
        for i in 0..labels.len() {
            let key: Vec<u8> = labels[i..]
                .iter()
                .flat_map(|l| {
                    std::iter::once(l.len() as u8).chain(l.iter().map(u8::to_ascii_lowercase))
                })
                .collect();
            if let Some(&at) = self.names.get(&key) {
                self.buf.extend_from_slice(&(0xc000 | at).to_be_bytes());
                return Ok(());
            }
            if let Ok(at) = u16::try_from(self.buf.len())
                && at < 0x4000
            {
                self.names.insert(key, at);
            }
            self.buf.push(labels[i].len() as u8);
            self.buf.extend_from_slice(&labels[i]);
        }
        self.buf.push(0);
        Ok(())
    }

    fn question(&mut self, q: &Question) -> Result<(), WireError> {
        self.name(&q.name)?;
        self.buf.extend_from_slice(&q.qtype.to_be_bytes());
        self.buf.extend_from_slice(&q.qclass.to_be_bytes());
        Ok(())
    }

    /// Writes a record, or nothing (and an error) when it cannot be encoded.
    fn record(&mut self, r: &Record) -> Result<(), WireError> {
        let start = self.buf.len();
        let out = self.record_inner(r);
        if out.is_err() {
            self.buf.truncate(start);
            self.names.retain(|_, at| (*at as usize) < start);
        }
        out
    }

    fn record_inner(&mut self, r: &Record) -> Result<(), WireError> {
        self.name(&r.name)?;
        self.buf.extend_from_slice(&r.rtype.to_be_bytes());
        self.buf.extend_from_slice(&CLASS_IN.to_be_bytes());
        self.buf.extend_from_slice(&r.ttl.to_be_bytes());
        let len_at = self.buf.len();
        self.buf.extend_from_slice(&[0, 0]);
        match &r.data {
            RData::A(ip) => self.buf.extend_from_slice(&ip.octets()),
            RData::Aaaa(ip) => self.buf.extend_from_slice(&ip.octets()),
            RData::Name(n) => self.name(n)?,
            RData::Soa {
                mname,
                rname,
                serial,
                refresh,
                retry,
                expire,
                minimum,
            } => {
                self.name(mname)?;
                self.name(rname)?;
                for v in [serial, refresh, retry, expire, minimum] {
                    self.buf.extend_from_slice(&v.to_be_bytes());
                }
            }
            RData::Txt(strings) => {
                for s in strings {
                    let len = u8::try_from(s.len())
                        .map_err(|_| WireError::BadValue("a TXT string over 255 bytes".into()))?;
                    self.buf.push(len);
                    self.buf.extend_from_slice(s);
                }
            }
        }
        let rdlen = u16::try_from(self.buf.len() - len_at - 2)
            .map_err(|_| WireError::BadValue("record data over 64 KiB".into()))?;
        self.buf[len_at..len_at + 2].copy_from_slice(&rdlen.to_be_bytes());
        Ok(())
    }
}

/// Writes the response to `query`, at most `limit` bytes: a longer one is replaced by
/// the question alone with TC set, so the client asks again over TCP (RFC 1035 §4.2.1).
/// Records that cannot be encoded (a bad stored value) are left out and logged.
pub fn write_response(query: &Query, answer: &Answer, limit: usize) -> Vec<u8> {
    let full = build(query, answer, false);
    if full.len() <= limit {
        return full;
    }
    let empty = Answer {
        answers: Vec::new(),
        authority: Vec::new(),
        ..answer.clone()
    };
    build(query, &empty, true)
}

fn build(query: &Query, answer: &Answer, tc: bool) -> Vec<u8> {
    let mut w = Writer::new(query.header, answer.rcode as u8, answer.aa, tc);
    let qd = match w.question(&query.question) {
        Ok(()) => 1,
        Err(e) => {
            tracing::debug!(error = %e, "DNS: the question cannot be echoed");
            0
        }
    };
    w.set_count(0, qd);
    for (section, records) in [(1, &answer.answers), (2, &answer.authority)] {
        let mut n = 0u16;
        for r in records {
            match w.record(r) {
                Ok(()) => n += 1,
                Err(e) => tracing::warn!(name = %r.name, error = %e, "DNS: a record left out"),
            }
        }
        w.set_count(section, n);
    }
    w.buf
}

/// The answer to a packet whose question could not be read: the header alone.
pub fn write_error(header: Header, rcode: Rcode) -> Vec<u8> {
    Writer::new(header, rcode as u8, false, false).buf
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query_bytes(id: u16, name: &str, qtype: u16, edns: bool) -> Vec<u8> {
        let mut b = id.to_be_bytes().to_vec();
        b.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, u8::from(edns)]);
        for l in labels(name).unwrap() {
            b.push(l.len() as u8);
            b.extend_from_slice(&l);
        }
        b.push(0);
        b.extend_from_slice(&qtype.to_be_bytes());
        b.extend_from_slice(&CLASS_IN.to_be_bytes());
        if edns {
            // OPT: root name, type 41, payload 1232, no options.
            b.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]);
        }
        b
    }

    #[test]
    fn parses_a_query_with_edns() {
        let q = parse_query(&query_bytes(
            0xbeef,
            "Multi-Region.Example.com.",
            TYPE_A,
            true,
        ))
        .unwrap();
        assert_eq!(
            q.header,
            Header {
                id: 0xbeef,
                opcode: 0,
                rd: true
            }
        );
        assert_eq!(q.question.name, "Multi-Region.Example.com.");
        assert_eq!((q.question.qtype, q.question.qclass), (TYPE_A, CLASS_IN));
    }

    #[test]
    fn rejects_what_is_not_one_question() {
        let mut b = query_bytes(1, "a.b.", TYPE_A, false);
        b[5] = 2;
        assert_eq!(parse_query(&b), Err(WireError::QuestionCount(2)));
        let mut b = query_bytes(1, "a.b.", TYPE_A, false);
        b[2] |= 0x80;
        assert_eq!(parse_query(&b), Err(WireError::NotAQuery));
        assert!(parse_header(&b).is_none());
        let b = query_bytes(1, "a.b.", TYPE_A, false);
        assert_eq!(
            parse_query(&b[..b.len() - 1]),
            Err(WireError::Short("the question"))
        );
        // A pointer to itself.
        let mut b = query_bytes(1, "a.", TYPE_A, false);
        b.truncate(12);
        b.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
        assert_eq!(parse_query(&b), Err(WireError::BadPointer));
    }

    #[test]
    fn reads_compressed_and_odd_names() {
        // Header, then "b." at 12, then the question "a" + pointer to 12.
        let mut b = vec![0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        b.extend_from_slice(&[1, b'b', 0]);
        let q_at = b.len();
        b.extend_from_slice(&[3, b'a', b'.', 0xff, 0xc0, 12, 0, 1, 0, 1]);
        let (name, end) = read_name(&b, q_at).unwrap();
        assert_eq!(name, "a\\.\\255.b.");
        assert_eq!(end, b.len() - 4);
        assert_eq!(
            labels(&name).unwrap(),
            vec![b"a.\xff".to_vec(), b"b".to_vec()]
        );
        assert_eq!(read_name(&[0], 0).unwrap(), (".".to_string(), 1));
        assert!(labels(&format!("{}.com.", "x".repeat(64))).is_err());
        assert!(labels(&"abcdefg.".repeat(40)).is_err());
        assert!(labels("a..b.").is_err());
    }

    #[test]
    fn writes_compressed_answers_and_truncates() {
        let q = parse_query(&query_bytes(7, "www.example.com.", TYPE_TXT, false)).unwrap();
        let rr = |s: &str| Record {
            name: "www.example.com.".into(),
            rtype: TYPE_TXT,
            ttl: 300,
            data: RData::Txt(vec![s.as_bytes().to_vec()]),
        };
        let answer = Answer {
            rcode: Rcode::NoError,
            aa: true,
            answers: vec![rr("one"), rr("two")],
            authority: vec![Record {
                name: "example.com.".into(),
                rtype: TYPE_SOA,
                ttl: 900,
                data: RData::Soa {
                    mname: "ns-1.example.com.".into(),
                    rname: "hostmaster.example.com.".into(),
                    serial: 1,
                    refresh: 2,
                    retry: 3,
                    expire: 4,
                    minimum: 5,
                },
            }],
        };
        let out = write_response(&q, &answer, 512);
        assert_eq!(&out[..4], &[0, 7, 0x85, 0x00]);
        assert_eq!(&out[4..12], &[0, 1, 0, 2, 0, 1, 0, 0]);
        // Both answers point back at the question's name (offset 12).
        let first = 12 + 17 + 4;
        assert_eq!(&out[first..first + 2], &[0xc0, 12]);
        // The SOA owner "example.com." is the question's suffix at 16.
        // Header, question (17 + 4), two answers of 16 bytes each.
        let soa_owner = 12 + 21 + 2 * 16;
        assert_eq!(&out[soa_owner..soa_owner + 2], &[0xc0, 16]);
        // The SOA's names compress too: "ns-1" and "hostmaster" + pointers.
        assert_eq!(out.len(), soa_owner + 2 + 10 + (5 + 2) + (11 + 2) + 20);
        let big = Answer {
            answers: (0..40)
                .map(|i| rr(&format!("value number {i:>20}")))
                .collect(),
            ..answer.clone()
        };
        let udp = write_response(&q, &big, 512);
        assert_eq!(udp[2] & 0x02, 0x02, "TC");
        assert_eq!(&udp[4..12], &[0, 1, 0, 0, 0, 0, 0, 0]);
        let tcp = write_response(&q, &big, 65_535);
        assert_eq!(tcp[2] & 0x02, 0);
        assert_eq!(&tcp[6..8], &[0, 40]);
        // A record that cannot be written is left out, the rest kept.
        let bad = Answer {
            answers: vec![
                Record {
                    name: "bad..name.".into(),
                    ..rr("x")
                },
                rr("y"),
            ],
            ..answer
        };
        let out = write_response(&q, &bad, 512);
        assert_eq!(&out[6..8], &[0, 1]);
        assert_eq!(write_error(q.header, Rcode::FormErr)[3], 1);
    }

    /// Random and mutated packets never panic the parser or the writer.
    #[test]
    fn random_bytes_never_panic() {
        let seed = query_bytes(9, "multi-region.example.com.", TYPE_A, true);
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for round in 0..50_000 {
            let mut b = if round % 2 == 0 {
                seed.clone()
            } else {
                let len = (next() % 80) as usize;
                (0..len).map(|_| next() as u8).collect()
            };
            for _ in 0..(next() % 6) {
                if !b.is_empty() {
                    let i = (next() as usize) % b.len();
                    b[i] = next() as u8;
                }
            }
            if let Ok(q) = parse_query(&b) {
                let a = Answer::rcode(Rcode::Refused);
                let _ = write_response(&q, &a, 512);
                let _ = labels(&q.question.name).expect("a parsed name writes back");
            }
            let _ = parse_header(&b);
        }
    }
}
