"""The tutorial's AWS calls through boto3 against the sandbox (endpoint, credentials and
region from the environment; ALB DNS names in ALB1_DNS / ALB2_DNS). Exits non-zero with
a message on the first divergence; prints a JSON summary on success."""

import json
import os
import sys
import time

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

CFG = Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=20)


def client(service, region):
    return boto3.client(service, region_name=region, config=CFG)


def expect_error(code, fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except ClientError as e:
        got = e.response["Error"]["Code"]
        assert got == code, f"expected {code}, got {got}: {e}"
        return e
    raise AssertionError(f"expected {code}, call succeeded")


def wait_until(what, fn, timeout=10.0):
    deadline = time.time() + timeout
    while not fn():
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def main():
    summary = {}
    sts = client("sts", "us-east-1")
    summary["account"] = sts.get_caller_identity()["Account"]

    elb1, elb2 = client("elbv2", "us-east-1"), client("elbv2", "us-east-2")
    alb1_dns, alb2_dns = os.environ["ALB1_DNS"], os.environ["ALB2_DNS"]
    elb1.get_waiter("load_balancer_available").wait(WaiterConfig={"Delay": 1, "MaxAttempts": 10})
    arns = []
    for elb, dns in ((elb1, alb1_dns), (elb2, alb2_dns)):
        lbs = elb.describe_load_balancers()["LoadBalancers"]
        match = [lb for lb in lbs if dns in lb["DNSName"]]
        assert len(match) == 1, lbs
        lb = match[0]
        assert lb["State"]["Code"] in ("provisioning", "active")
        assert lb["Type"] == "application" and lb["Scheme"] == "internet-facing"
        tags = elb.describe_tags(ResourceArns=[lb["LoadBalancerArn"]])["TagDescriptions"][0]["Tags"]
        keys = {t["Key"]: t["Value"] for t in tags}
        assert keys["ingress.k8s.aws/resource"] == "LoadBalancer", keys
        assert keys["ingress.k8s.aws/stack"] == "default/py-az-ingress", keys
        arns.append(lb["LoadBalancerArn"])
    # Regions are separate: the primary's ALB is unknown in us-east-2.
    expect_error("LoadBalancerNotFound", elb2.describe_load_balancers, LoadBalancerArns=[arns[0]])
    expect_error("LoadBalancerNotFound", elb1.describe_load_balancers, Names=["no-such-lb"])

    e = expect_error("ValidationError", elb1.create_load_balancer, Name="one-subnet", Subnets=["subnet-1"])
    assert "two subnets" in e.response["Error"]["Message"], e.response
    # Target groups and health.
    tg = elb1.create_target_group(Name="py-az", Protocol="HTTP", Port=80, VpcId="vpc-1", TargetType="ip")["TargetGroups"][0]
    elb1.register_targets(TargetGroupArn=tg["TargetGroupArn"], Targets=[{"Id": "10.0.0.1", "Port": 5000}])
    health = elb1.describe_target_health(TargetGroupArn=tg["TargetGroupArn"])["TargetHealthDescriptions"]
    assert health[0]["Target"]["Id"] == "10.0.0.1" and health[0]["TargetHealth"]["State"] == "unused", health
    # Behind a listener the target group is in use: targets go initial -> healthy.
    listener80 = elb1.create_listener(LoadBalancerArn=arns[0], Protocol="HTTP", Port=80, DefaultActions=[{"Type": "forward", "TargetGroupArn": tg["TargetGroupArn"]}])["Listeners"][0]
    expect_error("DuplicateListener", elb1.create_listener, LoadBalancerArn=arns[0], Protocol="HTTP", Port=80,
                 DefaultActions=[{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "503"}}])
    wait_until("healthy target", lambda: elb1.describe_target_health(TargetGroupArn=tg["TargetGroupArn"])["TargetHealthDescriptions"][0]["TargetHealth"]["State"] == "healthy")
    expect_error("ResourceInUse", elb1.delete_target_group, TargetGroupArn=tg["TargetGroupArn"])
    elb1.delete_listener(ListenerArn=listener80["ListenerArn"])
    expect_error("ListenerNotFound", elb1.describe_listeners, ListenerArns=[listener80["ListenerArn"]])
    elb1.deregister_targets(TargetGroupArn=tg["TargetGroupArn"], Targets=[{"Id": "10.0.0.1", "Port": 5000}])
    assert elb1.describe_target_health(TargetGroupArn=tg["TargetGroupArn"])["TargetHealthDescriptions"] == []
    elb1.delete_target_group(TargetGroupArn=tg["TargetGroupArn"])
    expect_error("TargetGroupNotFound", elb1.describe_target_groups, Names=["py-az"])

    ga = client("globalaccelerator", "us-west-2")
    acc = ga.create_accelerator(Name="multi-region", Tags=[{"Key": "app", "Value": "py-az"}])["Accelerator"]
    assert acc["Status"] == "IN_PROGRESS", acc
    assert len(acc["IpSets"][0]["IpAddresses"]) == 2
    acc_arn = acc["AcceleratorArn"]
    wait_until("DEPLOYED", lambda: ga.describe_accelerator(AcceleratorArn=acc_arn)["Accelerator"]["Status"] == "DEPLOYED")
    listener = ga.create_listener(AcceleratorArn=acc_arn, Protocol="TCP", PortRanges=[{"FromPort": 80, "ToPort": 80}])["Listener"]
    groups = []
    for region, arn, dial in (("us-east-1", arns[0], 100.0), ("us-east-2", arns[1], 0.0)):
        g = ga.create_endpoint_group(
            ListenerArn=listener["ListenerArn"],
            EndpointGroupRegion=region,
            TrafficDialPercentage=dial,
            EndpointConfigurations=[{"EndpointId": arn, "Weight": 128, "ClientIPPreservationEnabled": True}],
        )["EndpointGroup"]
        assert g["TrafficDialPercentage"] == dial and g["HealthCheckPort"] == 80 and g["ThresholdCount"] == 3, g
        groups.append(g["EndpointGroupArn"])
    expect_error("EndpointGroupAlreadyExistsException", ga.create_endpoint_group, ListenerArn=listener["ListenerArn"], EndpointGroupRegion="us-east-1")
    listed = ga.list_endpoint_groups(ListenerArn=listener["ListenerArn"])["EndpointGroups"]
    assert [g["EndpointGroupRegion"] for g in listed] == ["us-east-1", "us-east-2"], listed
    # Failover drill knobs: dial and weight updates.
    g = ga.update_endpoint_group(EndpointGroupArn=groups[1], TrafficDialPercentage=100.0)["EndpointGroup"]
    assert g["TrafficDialPercentage"] == 100.0 and g["EndpointDescriptions"][0]["Weight"] == 128
    ga.update_endpoint_group(EndpointGroupArn=groups[1], TrafficDialPercentage=0.0)
    ga.remove_endpoints(EndpointGroupArn=groups[1], EndpointIdentifiers=[{"EndpointId": arns[1]}])
    added = ga.add_endpoints(EndpointGroupArn=groups[1], EndpointConfigurations=[{"EndpointId": arns[1], "Weight": 0}])
    assert added["EndpointDescriptions"][0]["Weight"] == 0, added
    tags = ga.list_tags_for_resource(ResourceArn=acc_arn)["Tags"]
    assert tags == [{"Key": "app", "Value": "py-az"}], tags

    # Validation and the other operations of the reference.
    expect_error("InvalidArgumentException", ga.update_endpoint_group, EndpointGroupArn=groups[0], HealthCheckIntervalSeconds=15)
    expect_error("InvalidArgumentException", ga.add_endpoints, EndpointGroupArn=groups[0], EndpointConfigurations=[{"EndpointId": arns[1], "Weight": 128}])
    expect_error("InvalidPortRangeException", ga.create_listener, AcceleratorArn=acc_arn, Protocol="TCP", PortRanges=[{"FromPort": 80, "ToPort": 81}])
    # A replayed IdempotencyToken returns the listener it created, not a second one.
    first = ga.create_listener(AcceleratorArn=acc_arn, Protocol="TCP", PortRanges=[{"FromPort": 8080, "ToPort": 8080}], IdempotencyToken="replayed")["Listener"]
    again = ga.create_listener(AcceleratorArn=acc_arn, Protocol="TCP", PortRanges=[{"FromPort": 8080, "ToPort": 8080}], IdempotencyToken="replayed")["Listener"]
    assert first == again, (first, again)
    assert len(ga.list_listeners(AcceleratorArn=acc_arn)["Listeners"]) == 2
    ga.delete_listener(ListenerArn=first["ListenerArn"])
    udp = ga.create_listener(AcceleratorArn=acc_arn, Protocol="UDP", PortRanges=[{"FromPort": 53, "ToPort": 53}])["Listener"]
    updated = ga.update_listener(ListenerArn=udp["ListenerArn"], ClientAffinity="SOURCE_IP", PortRanges=[{"FromPort": 5353, "ToPort": 5354}])["Listener"]
    assert updated["ClientAffinity"] == "SOURCE_IP" and updated["PortRanges"] == [{"FromPort": 5353, "ToPort": 5354}], updated
    assert ga.describe_listener(ListenerArn=udp["ListenerArn"])["Listener"] == updated
    ga.delete_listener(ListenerArn=udp["ListenerArn"])
    expect_error("ListenerNotFoundException", ga.describe_listener, ListenerArn=udp["ListenerArn"])
    attrs = ga.describe_accelerator_attributes(AcceleratorArn=acc_arn)["AcceleratorAttributes"]
    assert attrs == {"FlowLogsEnabled": False}, attrs
    attrs = ga.update_accelerator_attributes(AcceleratorArn=acc_arn, FlowLogsEnabled=True, FlowLogsS3Bucket="logs", FlowLogsS3Prefix="ga/")["AcceleratorAttributes"]
    assert attrs == {"FlowLogsEnabled": True, "FlowLogsS3Bucket": "logs", "FlowLogsS3Prefix": "ga/"}, attrs
    ga.tag_resource(ResourceArn=acc_arn, Tags=[{"Key": "tier", "Value": "edge"}])
    ga.untag_resource(ResourceArn=acc_arn, TagKeys=["tier"])
    token_acc = ga.create_accelerator(Name="token", IdempotencyToken="tok-1", Enabled=False)["Accelerator"]
    assert ga.create_accelerator(Name="token", IdempotencyToken="tok-1", Enabled=False)["Accelerator"]["AcceleratorArn"] == token_acc["AcceleratorArn"]
    expect_error("InvalidArgumentException", ga.create_accelerator, Name="other", IdempotencyToken="tok-1")
    dual = ga.create_accelerator(Name="dual", IpAddressType="DUAL_STACK", Enabled=False)["Accelerator"]
    assert [s["IpAddressFamily"] for s in dual["IpSets"]] == ["IPv4", "IPv6"] and dual["DualStackDnsName"].endswith(".dualstack.awsglobalaccelerator.com"), dual
    for a in (token_acc, dual):
        wait_until("DEPLOYED", lambda: ga.describe_accelerator(AcceleratorArn=a["AcceleratorArn"])["Accelerator"]["Status"] == "DEPLOYED")
        ga.delete_accelerator(AcceleratorArn=a["AcceleratorArn"])

    # Pagination over accelerators.
    extra = [ga.create_accelerator(Name=f"extra-{i}", Enabled=False)["Accelerator"]["AcceleratorArn"] for i in range(3)]
    page = ga.list_accelerators(MaxResults=2)
    assert len(page["Accelerators"]) == 2 and "NextToken" in page, page
    rest = ga.list_accelerators(MaxResults=2, NextToken=page["NextToken"])
    assert len(rest["Accelerators"]) == 2 and "NextToken" not in rest, rest
    names = [a["Name"] for a in ga.get_paginator("list_accelerators").paginate(PaginationConfig={"PageSize": 1}).build_full_result()["Accelerators"]]
    assert names == ["multi-region", "extra-0", "extra-1", "extra-2"], names
    expect_error("InvalidNextTokenException", ga.list_accelerators, NextToken="bogus")

    dns = ga.describe_accelerator(AcceleratorArn=acc_arn)["Accelerator"]["DnsName"]
    r53 = client("route53", "us-east-1")
    zone = r53.create_hosted_zone(Name="example.com", CallerReference=str(time.time()))["HostedZone"]
    zone_id = zone["Id"].split("/")[-1]
    r53.change_tags_for_resource(ResourceType="hostedzone", ResourceId=zone_id, AddTags=[{"Key": "app", "Value": "py-az"}, {"Key": "x", "Value": "y"}], RemoveTagKeys=["x"])
    tags = r53.list_tags_for_resource(ResourceType="hostedzone", ResourceId=zone_id)["ResourceTagSet"]
    assert tags["ResourceId"] == zone_id and tags["Tags"] == [{"Key": "app", "Value": "py-az"}], tags
    expect_error("HostedZoneAlreadyExists", r53.create_hosted_zone, Name="example.com", CallerReference=zone["CallerReference"])
    change = {
        "Action": "CREATE",
        "ResourceRecordSet": {
            "Name": "multi-region.example.com.",
            "Type": "A",
            "AliasTarget": {"HostedZoneId": "Z2BJ6XQ5FK7U4H", "DNSName": dns, "EvaluateTargetHealth": False},
        },
    }
    info = r53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": [change]})["ChangeInfo"]
    assert info["Status"] == "PENDING", info
    r53.get_waiter("resource_record_sets_changed").wait(Id=info["Id"], WaiterConfig={"Delay": 1, "MaxAttempts": 10})
    assert r53.get_change(Id=info["Id"])["ChangeInfo"]["Status"] == "INSYNC"
    e = expect_error("InvalidChangeBatch", r53.change_resource_record_sets, HostedZoneId=zone_id, ChangeBatch={"Changes": [change]})
    assert "but it already exists" in e.response["Error"]["Message"], e.response
    rrs = r53.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
    alias = [r for r in rrs if r["Type"] == "A"][0]["AliasTarget"]
    assert alias["DNSName"] == dns + "." and alias["HostedZoneId"] == "Z2BJ6XQ5FK7U4H", alias
    expect_error("HostedZoneNotEmpty", r53.delete_hosted_zone, Id=zone_id)
    bad = {"Name": "bad.example.com.", "Type": "A", "TTL": 60, "ResourceRecords": [{"Value": "not-an-ip"}]}
    e = expect_error("InvalidChangeBatch", r53.change_resource_record_sets, HostedZoneId=zone_id, ChangeBatch={"Changes": [{"Action": "CREATE", "ResourceRecordSet": bad}]})
    assert "ARRDATAIllegalIPv4Address" in e.response["Error"]["Message"], e.response
    # Pagination: records (label-reversed order) and zones; by-name listing starts at a name.
    batch = [{"Action": "CREATE", "ResourceRecordSet": {"Name": f"r{i}.example.com.", "Type": "A", "TTL": 60, "ResourceRecords": [{"Value": f"192.0.2.{i}"}]}} for i in range(5)]
    r53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": batch})
    first = r53.list_resource_record_sets(HostedZoneId=zone_id, MaxItems="2")
    assert first["IsTruncated"] and len(first["ResourceRecordSets"]) == 2, first
    pages = r53.get_paginator("list_resource_record_sets").paginate(HostedZoneId=zone_id, PaginationConfig={"PageSize": 2})
    names = [r["Name"] for r in pages.build_full_result()["ResourceRecordSets"]]
    assert names == ["example.com.", "example.com.", "multi-region.example.com.", "r0.example.com.", "r1.example.com.", "r2.example.com.", "r3.example.com.", "r4.example.com."], names
    r53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": [dict(c, Action="DELETE") for c in batch]})
    later = r53.create_hosted_zone(Name="zzz.com", CallerReference="zzz")["HostedZone"]
    zones = [z["Name"] for z in r53.get_paginator("list_hosted_zones").paginate(PaginationConfig={"PageSize": 1}).build_full_result()["HostedZones"]]
    assert zones == ["example.com.", "zzz.com."], zones
    by_name = r53.list_hosted_zones_by_name(DNSName="example.com", MaxItems="1")
    assert [z["Name"] for z in by_name["HostedZones"]] == ["example.com."] and by_name["NextDNSName"] == "zzz.com.", by_name
    r53.delete_hosted_zone(Id=later["Id"])
    # A batch is all or nothing: a valid UPSERT beside a failing DELETE is not applied.
    other = {"Name": "other.example.com.", "Type": "TXT", "TTL": 60, "ResourceRecords": [{"Value": '"x"'}]}
    e = expect_error("InvalidChangeBatch", r53.change_resource_record_sets, HostedZoneId=zone_id, ChangeBatch={"Changes": [
        {"Action": "UPSERT", "ResourceRecordSet": other}, {"Action": "DELETE", "ResourceRecordSet": dict(other, Name="gone.example.com.")}]})
    assert "but it was not found" in e.response["Error"]["Message"], e.response
    assert not [r for r in r53.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"] if r["Type"] == "TXT"]
    wrong = dict(change["ResourceRecordSet"], AliasTarget=dict(change["ResourceRecordSet"]["AliasTarget"], DNSName="aother.awsglobalaccelerator.com"))
    e = expect_error("InvalidChangeBatch", r53.change_resource_record_sets, HostedZoneId=zone_id, ChangeBatch={"Changes": [{"Action": "DELETE", "ResourceRecordSet": wrong}]})
    assert "do not match the current values" in e.response["Error"]["Message"], e.response

    # Cleanup in the tutorial's order.
    expect_error("AcceleratorNotDisabledException", ga.delete_accelerator, AcceleratorArn=acc_arn)
    expect_error("AssociatedEndpointGroupFoundException", ga.delete_listener, ListenerArn=listener["ListenerArn"])
    for g in reversed(groups):
        ga.delete_endpoint_group(EndpointGroupArn=g)
    ga.update_accelerator(AcceleratorArn=acc_arn, Enabled=False)
    expect_error("AssociatedListenerFoundException", ga.delete_accelerator, AcceleratorArn=acc_arn)
    ga.delete_listener(ListenerArn=listener["ListenerArn"])
    wait_until("DEPLOYED", lambda: ga.describe_accelerator(AcceleratorArn=acc_arn)["Accelerator"]["Status"] == "DEPLOYED")
    ga.delete_accelerator(AcceleratorArn=acc_arn)
    expect_error("AcceleratorNotFoundException", ga.describe_accelerator, AcceleratorArn=acc_arn)
    for arn in extra:
        wait_until("DEPLOYED", lambda: ga.describe_accelerator(AcceleratorArn=arn)["Accelerator"]["Status"] == "DEPLOYED")
        ga.delete_accelerator(AcceleratorArn=arn)
    change["Action"] = "DELETE"
    r53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": [change]})
    r53.delete_hosted_zone(Id=zone_id)
    summary["accelerators_left"] = len(ga.list_accelerators()["Accelerators"])
    summary["zones_left"] = len(r53.list_hosted_zones()["HostedZones"])
    print(json.dumps(summary, sort_keys=True))


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print(f"assertion failed: {e}", file=sys.stderr)
        raise
