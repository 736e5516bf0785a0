//! SigV4 verification: the sandbox re-signs every request with its own secret and
//! compares, so a client with the wrong secret is refused exactly as AWS refuses it.

use axum::http::HeaderMap;
use hmac::{Hmac, KeyInit, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use sha2::{Digest, Sha256};

/// Characters SigV4 leaves unencoded (RFC 3986 unreserved).
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');
/// Same, but a path keeps its slashes.
const PATH: &AsciiSet = &UNRESERVED.remove(b'/');

/// The credential scope of a verified request: who signed it, for which region and service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub access_key_id: String,
    pub region: String,
    pub service: String,
}

/// Why a request was refused. Each protocol renders these in its own error shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// No `Authorization` header at all.
    Missing,
    /// An `Authorization` header we cannot parse.
    Malformed(String),
    /// A well-formed signature by an access key this sandbox does not know.
    UnknownKey,
    /// The right key, but the signature does not match (wrong secret, tampered request).
    BadSignature,
    /// Signed more than 15 minutes away from now (a replay, or a wrong clock).
    Expired(String),
    /// A credential scope for another service or region than the endpoint's: AWS
    /// refuses it before looking at the signature.
    WrongScope(String),
}

/// Where a service's endpoint lives, so which regions its credential scope may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Regions {
    /// One endpoint in one region (Global Accelerator's control plane in us-west-2,
    /// Route 53 signed for us-east-1).
    Only(&'static str),
    /// An endpoint per region: the sandbox answers for all of them on one address, and
    /// the scope's region says which one the client meant.
    Any,
}

/// Refuses a verified scope that names another service or region than the endpoint
/// the request addressed (`service` is its signing name), in AWS's words.
pub fn check_scope(scope: &Scope, service: &str, regions: Regions) -> Result<(), AuthError> {
    if scope.service != service {
        return Err(AuthError::WrongScope(format!(
            "Credential should be scoped to correct service: '{service}'. "
        )));
    }
    let valid = match regions {
        Regions::Only(r) => scope.region == r,
        Regions::Any => crate::config::is_region_shape(&scope.region),
    };
    if !valid {
        return Err(AuthError::WrongScope(format!(
            "Credential should be scoped to a valid region, not '{}'. ",
            scope.region
        )));
    }
    Ok(())
}

/// How far a request's `X-Amz-Date` may be from the sandbox's clock, as on AWS.
pub const MAX_SKEW_SECS: u64 = 15 * 60;

/// The parts of a request that the signature covers.
pub struct SignedRequest<'a> {
    pub method: &'a str,
    /// The path exactly as it came on the wire (still percent-encoded).
    pub raw_path: &'a str,
    pub raw_query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

/// What a request presents as its signature: from the `Authorization` header, or from
/// the query string of a presigned URL.
struct Presented {
    credential: String,
    signed_headers: String,
    signature: String,
    amz_date: String,
    /// A presigned URL's `X-Amz-Expires`, in seconds.
    expires: Option<u64>,
}

/// The longest validity a presigned URL may ask for: a week, as AWS allows.
const MAX_EXPIRES_SECS: u64 = 7 * 24 * 3600;

fn presented(req: &SignedRequest<'_>) -> Result<Presented, AuthError> {
    let missing = |what: &str| {
        AuthError::Malformed(format!("Authorization header requires '{what}' parameter."))
    };
    let Some(auth) = req.headers.get("authorization") else {
        return presigned(req.raw_query.unwrap_or(""));
    };
    let auth = auth
        .to_str()
        .map_err(|_| AuthError::Malformed("Authorization header is not ASCII".into()))?;
    let rest = auth.strip_prefix("AWS4-HMAC-SHA256 ").ok_or_else(|| {
        AuthError::Malformed("Unsupported signing algorithm; expected AWS4-HMAC-SHA256".into())
    })?;
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for part in rest.split(',') {
        match part.trim().split_once('=') {
            Some(("Credential", v)) => credential = Some(v),
            Some(("SignedHeaders", v)) => signed_headers = Some(v),
            Some(("Signature", v)) => signature = Some(v),
            _ => {}
        }
    }
    let amz_date = header_value(req.headers, "x-amz-date").ok_or_else(|| {
        AuthError::Malformed(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
                .into(),
        )
    })?;
    Ok(Presented {
        credential: credential.ok_or_else(|| missing("Credential"))?.to_string(),
        signed_headers: signed_headers
            .ok_or_else(|| missing("SignedHeaders"))?
            .to_string(),
        signature: signature.ok_or_else(|| missing("Signature"))?.to_string(),
        amz_date,
        expires: None,
    })
}

/// A presigned URL's signature (`X-Amz-Algorithm`, `-Credential`, `-Date`, `-Expires`,
/// `-SignedHeaders`, `-Signature` in the query), as `aws eks get-token` and the SDKs'
/// presigners write it. No `X-Amz-Algorithm` at all: no signature.
fn presigned(query: &str) -> Result<Presented, AuthError> {
    let params: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let Some(algorithm) = get("X-Amz-Algorithm") else {
        return Err(AuthError::Missing);
    };
    if algorithm != "AWS4-HMAC-SHA256" {
        return Err(AuthError::Malformed(
            "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"".into(),
        ));
    }
    let required = |name: &str| {
        get(name).ok_or_else(|| {
            AuthError::Malformed(format!(
                "AWS query-string parameters must include '{name}'. Re-examine the query-string parameters."
            ))
        })
    };
    let expires = required("X-Amz-Expires")?;
    let expires: u64 = expires
        .parse()
        .ok()
        .filter(|e| (1..=MAX_EXPIRES_SECS).contains(e))
        .ok_or_else(|| {
            AuthError::Malformed(format!(
                "X-Amz-Expires must be a number of seconds from 1 to {MAX_EXPIRES_SECS}, not '{expires}'."
            ))
        })?;
    Ok(Presented {
        credential: required("X-Amz-Credential")?,
        signed_headers: required("X-Amz-SignedHeaders")?,
        signature: required("X-Amz-Signature")?,
        amz_date: required("X-Amz-Date")?,
        expires: Some(expires),
    })
}

/// Checks the request's SigV4 signature (its `Authorization` header, or a presigned
/// URL's query) against the one known key pair, and that it was signed within 15
/// minutes of `now_secs` (a presigned URL: and has not expired).
pub fn verify(
    req: &SignedRequest<'_>,
    access_key_id: &str,
    secret: &str,
    now_secs: u64,
) -> Result<Scope, AuthError> {
    let Presented {
        credential,
        signed_headers,
        signature,
        amz_date,
        expires,
    } = presented(req)?;
    let (credential, signed_headers) = (credential.as_str(), signed_headers.as_str());
    if !signed_headers.split(';').any(|h| h == "host") {
        return Err(AuthError::Malformed(
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.".into(),
        ));
    }
    let parts: Vec<&str> = credential.split('/').collect();
    let [key, date, region, service, terminator] = parts[..] else {
        return Err(AuthError::Malformed(format!(
            "Credential should be scoped to a valid region: '{credential}'."
        )));
    };
    if terminator != "aws4_request" {
        return Err(AuthError::Malformed(
            "Credential should be scoped with a valid terminator: 'aws4_request'.".into(),
        ));
    }
    if key != access_key_id {
        return Err(AuthError::UnknownKey);
    }
    if !amz_date.starts_with(date) {
        return Err(AuthError::BadSignature);
    }

    let expected = sign(
        req,
        signed_headers,
        &amz_date,
        [date, region, service],
        secret,
    );
    if !constant_time_eq(expected.as_bytes(), signature.as_bytes()) {
        return Err(AuthError::BadSignature);
    }
    let signed_at = parse_amz_date(&amz_date).ok_or(AuthError::BadSignature)?;
    // A presigned URL is good from its date (give or take the skew) until it expires.
    let expired = match expires {
        Some(e) => now_secs > signed_at.saturating_add(e) || signed_at > now_secs + MAX_SKEW_SECS,
        None => signed_at.abs_diff(now_secs) > MAX_SKEW_SECS,
    };
    if expired && expires.is_some() && signed_at <= now_secs {
        return Err(AuthError::Expired("Request has expired".into()));
    }
    if expired {
        let fmt = super::ids::amz_date;
        let message = if signed_at < now_secs {
            format!(
                "Signature expired: {amz_date} is now earlier than {} ({} - 15 min.)",
                fmt(now_secs - MAX_SKEW_SECS),
                fmt(now_secs)
            )
        } else {
            format!(
                "Signature not yet current: {amz_date} is still later than {} ({} + 15 min.)",
                fmt(now_secs + MAX_SKEW_SECS),
                fmt(now_secs)
            )
        };
        return Err(AuthError::Expired(message));
    }
    Ok(Scope {
        access_key_id: key.to_string(),
        region: region.to_string(),
        service: service.to_string(),
    })
}

/// The signature of `req` over `signed_headers` at `amz_date` with credential scope
/// `[date, region, service]`, in hex.
pub(crate) fn sign(
    req: &SignedRequest<'_>,
    signed_headers: &str,
    amz_date: &str,
    [date, region, service]: [&str; 3],
    secret: &str,
) -> String {
    let canonical = canonical_request(req, signed_headers);
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let mut k = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    for part in [region, service, "aws4_request"] {
        k = hmac(&k, part.as_bytes());
    }
    hex::encode(hmac(&k, string_to_sign.as_bytes()))
}

/// `20260101T000000Z` as epoch seconds.
fn parse_amz_date(s: &str) -> Option<u64> {
    let t = jiff::civil::DateTime::strptime("%Y%m%dT%H%M%SZ", s)
        .ok()?
        .to_zoned(jiff::tz::TimeZone::UTC)
        .ok()?;
    u64::try_from(t.timestamp().as_second()).ok()
}

fn header_value(headers: &HeaderMap, name: &str) -> Option<String> {
    let values: Vec<String> = headers
        .get_all(name)
        .iter()
        .map(|v| {
            String::from_utf8_lossy(v.as_bytes())
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    (!values.is_empty()).then(|| values.join(","))
}

fn canonical_request(req: &SignedRequest<'_>, signed_headers: &str) -> String {
    let path = if req.raw_path.is_empty() {
        "/"
    } else {
        req.raw_path
    };
    let uri = utf8_percent_encode(path, PATH).to_string();
    // A presigned URL's signature is in its query, which it cannot sign.
    let presigned = !req.headers.contains_key("authorization");
    let mut query: Vec<(String, String)> = req
        .raw_query
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .filter(|p| !(presigned && p.split('=').next() == Some("X-Amz-Signature")))
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (encode(k), encode(v))
        })
        .collect();
    query.sort();
    let query = query
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let mut headers = String::new();
    for name in signed_headers.split(';') {
        headers.push_str(name);
        headers.push(':');
        headers.push_str(&header_value(req.headers, name).unwrap_or_default());
        headers.push('\n');
    }
    // The hash of the body as it arrived, never the `x-amz-content-sha256` header's
    // claim: these services sign every payload (no UNSIGNED-PAYLOAD), so a captured
    // request replayed with another body no longer matches its signature.
    let payload = hex::encode(Sha256::digest(req.body));
    format!(
        "{}\n{uri}\n{query}\n{headers}\n{signed_headers}\n{payload}",
        req.method
    )
}

/// Decodes what the client encoded and re-encodes it the strict SigV4 way.
fn encode(s: &str) -> String {
    let decoded = percent_decode_str(s).decode_utf8_lossy();
    utf8_percent_encode(&decoded, UNRESERVED).to_string()
}

/// HMAC-SHA256 (RFC 2104).
fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    // Any key length is valid for HMAC: `new_from_slice` cannot fail here.
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc4231_case_2() {
        let mac = hmac(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    /// A request signed over `body` and its claimed hash, by the test key.
    fn signed(body: &[u8], claimed_sha256: &str, signed_headers: &str) -> (HeaderMap, u64) {
        let mut headers = HeaderMap::new();
        headers.insert("host", "sandbox".parse().unwrap());
        headers.insert("x-amz-date", "20150830T123600Z".parse().unwrap());
        headers.insert("x-amz-content-sha256", claimed_sha256.parse().unwrap());
        let req = SignedRequest {
            method: "POST",
            raw_path: "/",
            raw_query: None,
            headers: &headers,
            body,
        };
        let signature = sign(
            &req,
            signed_headers,
            "20150830T123600Z",
            ["20150830", "us-east-1", "sts"],
            "secret",
        );
        headers.insert(
            "authorization",
            format!(
                "AWS4-HMAC-SHA256 Credential=AK/20150830/us-east-1/sts/aws4_request, \
                 SignedHeaders={signed_headers}, Signature={signature}"
            )
            .parse()
            .unwrap(),
        );
        (headers, parse_amz_date("20150830T123600Z").unwrap())
    }

    fn check(headers: &HeaderMap, body: &[u8], now: u64) -> Result<Scope, AuthError> {
        let req = SignedRequest {
            method: "POST",
            raw_path: "/",
            raw_query: None,
            headers,
            body,
        };
        verify(&req, "AK", "secret", now)
    }

    /// The payload hash is computed from the body, not taken from the header: a
    /// captured request replayed with another body fails its signature (and so does
    /// one a client signed as UNSIGNED-PAYLOAD, whose canonical request differs).
    #[test]
    fn the_payload_hash_is_the_bodys_not_the_headers_claim() {
        let body = b"Action=GetCallerIdentity";
        let hash = hex::encode(Sha256::digest(body));
        let headed = "host;x-amz-content-sha256;x-amz-date";
        let (headers, now) = signed(body, &hash, headed);
        assert!(check(&headers, body, now).is_ok());
        assert_eq!(
            check(&headers, b"Action=Other", now),
            Err(AuthError::BadSignature)
        );
        // The header's claim plays no part: a wrong one changes nothing.
        let (claimed, now) = signed(body, "UNSIGNED-PAYLOAD", headed);
        assert!(check(&claimed, body, now).is_ok());
        assert_eq!(check(&claimed, b"", now), Err(AuthError::BadSignature));
    }

    #[test]
    fn a_scope_for_another_service_or_region_is_refused() {
        let scope = |service: &str, region: &str| Scope {
            access_key_id: "AKID".into(),
            region: region.into(),
            service: service.into(),
        };
        let ga = Regions::Only("us-west-2");
        assert_eq!(
            check_scope(
                &scope("globalaccelerator", "us-west-2"),
                "globalaccelerator",
                ga
            ),
            Ok(())
        );
        let wrong = |r: Result<(), AuthError>| match r {
            Err(AuthError::WrongScope(m)) => m,
            other => panic!("expected WrongScope, got {other:?}"),
        };
        assert_eq!(
            wrong(check_scope(
                &scope("route53", "us-west-2"),
                "globalaccelerator",
                ga
            )),
            "Credential should be scoped to correct service: 'globalaccelerator'. "
        );
        assert_eq!(
            wrong(check_scope(
                &scope("globalaccelerator", "us-east-1"),
                "globalaccelerator",
                ga
            )),
            "Credential should be scoped to a valid region, not 'us-east-1'. "
        );
        assert_eq!(
            check_scope(&scope("sts", "eu-west-3"), "sts", Regions::Any),
            Ok(())
        );
        wrong(check_scope(&scope("sts", "mars"), "sts", Regions::Any));
    }

    #[test]
    fn host_must_be_signed() {
        let body = b"";
        let hash = hex::encode(Sha256::digest(body));
        let (headers, now) = signed(body, &hash, "x-amz-content-sha256;x-amz-date");
        let Err(AuthError::Malformed(m)) = check(&headers, body, now) else {
            panic!("a request without a signed host was accepted");
        };
        assert!(
            m.contains("'Host' or ':authority' must be a 'SignedHeader'"),
            "{m}"
        );
    }

    /// The worked example of the AWS SigV4 documentation (IAM ListUsers).
    #[test]
    fn verifies_the_documented_example() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8"
                .parse()
                .unwrap(),
        );
        headers.insert("host", "iam.amazonaws.com".parse().unwrap());
        headers.insert("x-amz-date", "20150830T123600Z".parse().unwrap());
        headers.insert(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date, \
             Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
                .parse()
                .unwrap(),
        );
        let req = SignedRequest {
            method: "GET",
            raw_path: "/",
            raw_query: Some("Action=ListUsers&Version=2010-05-08"),
            headers: &headers,
            body: b"",
        };
        let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
        let signed_at = parse_amz_date("20150830T123600Z").unwrap();
        assert_eq!(signed_at, 1_440_938_160);
        let scope = verify(&req, "AKIDEXAMPLE", secret, signed_at + 60).unwrap();
        assert_eq!(scope.region, "us-east-1");
        assert_eq!(scope.service, "iam");
        assert_eq!(
            verify(&req, "AKIDEXAMPLE", "wrong", signed_at),
            Err(AuthError::BadSignature)
        );
        assert_eq!(
            verify(&req, "OTHER", secret, signed_at),
            Err(AuthError::UnknownKey)
        );
        let Err(AuthError::Expired(m)) = verify(&req, "AKIDEXAMPLE", secret, signed_at + 16 * 60)
        else {
            panic!("a 16-minute-old signature was accepted");
        };
        assert_eq!(
            m,
            "Signature expired: 20150830T123600Z is now earlier than 20150830T123700Z (20150830T125200Z - 15 min.)"
        );
    }
}
