//! The step graph as the engine sees it: dependencies (explicit and implied) and order.

use std::collections::BTreeSet;

use crate::support::parse;

fn ids<'a>(steps: impl IntoIterator<Item = &'a runner_workflow::Step>) -> Vec<&'a str> {
    steps.into_iter().map(|s| s.id.as_str()).collect()
}

#[test]
fn order_respects_needs_and_keeps_file_order_among_ready_steps() {
    let wf = parse(
        r#"
name = "diamond"
[[steps]]
id = "report"
plugin = "echo"
needs = ["left", "right"]
[[steps]]
id = "right"
plugin = "echo"
needs = ["root"]
[[steps]]
id = "lint"
plugin = "echo"
[[steps]]
id = "left"
plugin = "echo"
needs = ["root"]
[[steps]]
id = "root"
plugin = "echo"
"#,
    );
    assert_eq!(ids(wf.order()), ["lint", "root", "right", "left", "report"]);
}

#[test]
fn output_references_add_to_explicit_needs() {
    let wf = parse(
        r#"
name = "implied"
[vars]
region = "eu-west-1"
[[steps]]
id = "alb"
plugin = "echo"
[[steps]]
id = "accelerator"
plugin = "echo"
[[steps]]
id = "dns"
plugin = "echo"
needs = ["alb"]
with = { target = "${steps.accelerator.outputs.dns-name}", region = "${vars.region}", again = "${steps.alb.outputs.arn}" }
"#,
    );
    let dns = wf.step("dns").unwrap();
    assert_eq!(
        dns.needs,
        BTreeSet::from(["alb".to_owned(), "accelerator".to_owned()])
    );
    assert_eq!(ids(wf.order()), ["alb", "accelerator", "dns"]);
    assert!(wf.step("nope").is_none());
}

#[test]
fn a_thousand_step_chain_orders_quickly() {
    let mut source = String::from("name = \"chain\"\n");
    for i in 0..1000 {
        source.push_str(&format!("[[steps]]\nid = \"s{i}\"\nplugin = \"echo\"\n"));
        if i > 0 {
            source.push_str(&format!(
                "with = {{ prev = \"${{steps.s{}.outputs.x}}\" }}\n",
                i - 1
            ));
        }
    }
    let wf = parse(&source);
    let order = wf.order();
    assert_eq!(order.len(), 1000);
    assert_eq!(
        (order[0].id.as_str(), order[999].id.as_str()),
        ("s0", "s999")
    );
}
