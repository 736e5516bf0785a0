//! AWS STS (awsQuery, Version 2011-06-15): GetCallerIdentity, so `aws sts
//! get-caller-identity` (the tutorial's first command) answers with the sandbox account.

use super::elbv2::Params;
use super::xml::Writer;
use super::{ApiError, ApiResult, Aws, ids};

pub const VERSION: &str = "2011-06-15";
pub const NAMESPACE: &str = "https://sts.amazonaws.com/doc/2011-06-15/";
/// The operations the sandbox serves (what `--faults` may name).
pub const OPERATIONS: &[&str] = &["GetCallerIdentity"];

pub fn handle(aws: &Aws, _region: &str, params: &[(String, String)]) -> ApiResult<String> {
    let p = Params(params);
    let action = p.get("Action").ok_or_else(|| {
        ApiError::bad(
            "MissingAction",
            "The request must contain the parameter Action",
        )
    })?;
    if action != "GetCallerIdentity" {
        return Err(ApiError::bad(
            "InvalidAction",
            format!("Could not find operation {action} for version {VERSION}"),
        ));
    }
    let account = &aws.settings().account_id;
    let mut w = Writer::new();
    w.open_ns("GetCallerIdentityResponse", NAMESPACE)
        .open("GetCallerIdentityResult")
        .leaf("Arn", format!("arn:aws:iam::{account}:root"))
        .leaf("UserId", account)
        .leaf("Account", account)
        .close("GetCallerIdentityResult")
        .open("ResponseMetadata")
        .leaf("RequestId", ids::uuid())
        .close("ResponseMetadata")
        .close("GetCallerIdentityResponse");
    Ok(w.finish())
}
