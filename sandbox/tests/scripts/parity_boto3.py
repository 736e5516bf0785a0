"""One Route 53 + ELBv2 scenario, run by the parity test against moto_server and against
the sandbox. Prints normalized results (ids, ARNs, times and the fields where moto does
not follow AWS removed) as JSON; the test requires both runs to print the same.

Known moto divergences, deliberately not compared (see aws-semantics.md §6):
- Route 53 CreateHostedZone with a used CallerReference: moto creates another zone, AWS
  answers HostedZoneAlreadyExists; alias records: moto reports TTL 0, AWS none.
- Route 53 ChangeInfo.Status: moto answers INSYNC at once, AWS (and the sandbox) PENDING
  first; DELETE of a non-matching record: moto InvalidInput, AWS InvalidChangeBatch;
  InvalidChangeBatch message text (AWS wraps it in a bracketed list).
- ELBv2 CreateListener on a port already in use: moto adds a second listener, AWS
  answers DuplicateListener.
- ELBv2 State.Code: moto flips to active on the first describe; DNS name numbers;
  target health states (moto reports healthy for targets of unused target groups).
"""

import json
import sys

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

CFG = Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=20)
TARGET = sys.argv[1]  # "moto" or "sandbox": only the setup of subnets differs
OUT = []


def record(step, value):
    OUT.append({"step": step, "value": value})


def error_code(fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except ClientError as e:
        return e.response["Error"]["Code"]
    return None


def rrsets(r53, zone_id):
    out = []
    for r in r53.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]:
        item = {"Name": r["Name"], "Type": r["Type"]}
        if r["Type"] in ("SOA", "NS"):
            out.append(item)
            continue
        if "TTL" in r and "AliasTarget" not in r:  # moto reports TTL 0 on aliases; AWS omits it
            item["TTL"] = r["TTL"]
        if "ResourceRecords" in r:
            item["Values"] = sorted(v["Value"] for v in r["ResourceRecords"])
        if "AliasTarget" in r:
            a = r["AliasTarget"]
            item["Alias"] = [a["HostedZoneId"], a["DNSName"].rstrip("."), a["EvaluateTargetHealth"]]
        out.append(item)
    return out


def route53():
    r53 = boto3.client("route53", region_name="us-east-1", config=CFG)
    z = r53.create_hosted_zone(Name="parity.example.com", CallerReference="parity-1", HostedZoneConfig={"Comment": "parity", "PrivateZone": False})
    zone = z["HostedZone"]
    zone_id = zone["Id"].split("/")[-1]
    record("create zone", {
        "id_prefixed": zone["Id"].startswith("/hostedzone/"),
        "Name": zone["Name"],
        "Comment": zone["Config"].get("Comment"),
        "Private": zone["Config"]["PrivateZone"],
        "Count": zone["ResourceRecordSetCount"],
        "change_prefixed": z["ChangeInfo"]["Id"].startswith("/change/"),
        "nameservers": len(z["DelegationSet"]["NameServers"]),
    })
    r53.create_hosted_zone(Name="a-parity.com", CallerReference="parity-2")
    got = r53.get_hosted_zone(Id=zone_id)["HostedZone"]
    record("get zone", [got["Name"], got["ResourceRecordSetCount"]])
    record("list zones", sorted(z["Name"] for z in r53.list_hosted_zones()["HostedZones"]))
    by_name = r53.list_hosted_zones_by_name(DNSName="parity.example.com")
    record("list zones by name", [z["Name"] for z in by_name["HostedZones"]])
    record("no such zone", error_code(r53.get_hosted_zone, Id="Z0000000000000000NONE"))
    record("initial records", rrsets(r53, zone_id))

    www = {"Name": "www.parity.example.com", "Type": "A", "TTL": 300, "ResourceRecords": [{"Value": "192.0.2.1"}]}
    alias = {"Name": "multi-region.parity.example.com.", "Type": "A",
             "AliasTarget": {"HostedZoneId": "Z2BJ6XQ5FK7U4H", "DNSName": "a1234567890abcdef.awsglobalaccelerator.com", "EvaluateTargetHealth": False}}
    info = r53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Comment": "c", "Changes": [
        {"Action": "CREATE", "ResourceRecordSet": www}, {"Action": "CREATE", "ResourceRecordSet": alias}]})["ChangeInfo"]
    record("change info", [info["Id"].startswith("/change/"), info["Status"] in ("PENDING", "INSYNC")])
    record("get change", r53.get_change(Id=info["Id"])["ChangeInfo"]["Status"] in ("PENDING", "INSYNC"))
    record("create existing", error_code(r53.change_resource_record_sets, HostedZoneId=zone_id, ChangeBatch={"Changes": [{"Action": "CREATE", "ResourceRecordSet": www}]}))
    record("out of zone", error_code(r53.change_resource_record_sets, HostedZoneId=zone_id, ChangeBatch={"Changes": [
        {"Action": "CREATE", "ResourceRecordSet": dict(www, Name="www.elsewhere.org")}]}))
    upsert = dict(www, TTL=60, ResourceRecords=[{"Value": "192.0.2.2"}, {"Value": "192.0.2.3"}])
    r53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": [{"Action": "UPSERT", "ResourceRecordSet": upsert}]})
    record("after upsert", rrsets(r53, zone_id))
    record("zone not empty", error_code(r53.delete_hosted_zone, Id=zone_id))
    r53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": [
        {"Action": "DELETE", "ResourceRecordSet": upsert}, {"Action": "DELETE", "ResourceRecordSet": alias}]})
    record("after delete", rrsets(r53, zone_id))
    for z in r53.list_hosted_zones()["HostedZones"]:
        r53.delete_hosted_zone(Id=z["Id"])
    record("zones after cleanup", r53.list_hosted_zones()["HostedZones"])


def elbv2():
    elb = boto3.client("elbv2", region_name="us-east-1", config=CFG)
    if TARGET == "moto":
        ec2 = boto3.client("ec2", region_name="us-east-1", config=CFG)
        subnets = [s["SubnetId"] for s in ec2.describe_subnets()["Subnets"]][:2]
        vpc = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
    else:
        subnets, vpc = ["subnet-0a", "subnet-0b"], "vpc-0a"
    names = ["parity-alb-1", "parity-alb-2", "parity-alb-3"]
    arns = []
    for n in names:
        lb = elb.create_load_balancer(Name=n, Subnets=subnets, Scheme="internet-facing", Type="application",
                                      Tags=[{"Key": "team", "Value": "sre"}])["LoadBalancers"][0]
        arns.append(lb["LoadBalancerArn"])
        record("create lb", {
            "Name": lb["LoadBalancerName"], "Scheme": lb["Scheme"], "Type": lb["Type"],
            "arn_shape": lb["LoadBalancerArn"].startswith(f"arn:aws:elasticloadbalancing:us-east-1:") and f":loadbalancer/app/{n}/" in lb["LoadBalancerArn"],
            "dns_shape": lb["DNSName"].startswith(n + "-") and lb["DNSName"].endswith(".us-east-1.elb.amazonaws.com"),
            "IpAddressType": lb["IpAddressType"],
        })
    record("describe all", sorted(lb["LoadBalancerName"] for lb in elb.describe_load_balancers()["LoadBalancers"]))
    record("describe by name", [lb["LoadBalancerName"] for lb in elb.describe_load_balancers(Names=["parity-alb-2"])["LoadBalancers"]])
    record("describe by arn", [lb["LoadBalancerName"] for lb in elb.describe_load_balancers(LoadBalancerArns=[arns[2]])["LoadBalancers"]])
    page = elb.describe_load_balancers(PageSize=2)
    rest = elb.describe_load_balancers(PageSize=2, Marker=page["NextMarker"])
    record("pages", [len(page["LoadBalancers"]), "NextMarker" in page, len(rest["LoadBalancers"]), "NextMarker" in rest])
    record("not found by name", error_code(elb.describe_load_balancers, Names=["parity-nope"]))
    record("not found by arn", error_code(elb.describe_load_balancers, LoadBalancerArns=[arns[0].replace("parity-alb-1", "parity-gone")]))

    elb.add_tags(ResourceArns=[arns[0]], Tags=[{"Key": "env", "Value": "test"}])
    elb.remove_tags(ResourceArns=[arns[0]], TagKeys=["team"])
    tags = elb.describe_tags(ResourceArns=arns[:2])["TagDescriptions"]
    record("tags", [sorted((t["Key"], t["Value"]) for t in d["Tags"]) for d in tags])

    tg = elb.create_target_group(Name="parity-tg", Protocol="HTTP", Port=80, VpcId=vpc, TargetType="ip")["TargetGroups"][0]
    fields = ("TargetGroupName", "Protocol", "Port", "TargetType", "HealthCheckProtocol", "HealthCheckPort", "HealthCheckPath")
    # moto omits an empty LoadBalancerArns; AWS sends an empty list.
    record("create tg", dict({k: tg.get(k) for k in fields}, LoadBalancerArns=tg.get("LoadBalancerArns") or []))
    record("describe tg by name", [t["TargetGroupName"] for t in elb.describe_target_groups(Names=["parity-tg"])["TargetGroups"]])
    record("tg not found", error_code(elb.describe_target_groups, Names=["parity-nope"]))
    listener = elb.create_listener(LoadBalancerArn=arns[0], Protocol="HTTP", Port=80,
                                   DefaultActions=[{"Type": "forward", "TargetGroupArn": tg["TargetGroupArn"]}])["Listeners"][0]
    record("create listener", [listener["Port"], listener["Protocol"], [a["Type"] for a in listener["DefaultActions"]],
                               listener["LoadBalancerArn"] == arns[0], ":listener/app/parity-alb-1/" in listener["ListenerArn"]])
    record("describe listeners", [l["Port"] for l in elb.describe_listeners(LoadBalancerArn=arns[0])["Listeners"]])
    record("tg in use by", [a == arns[0] for a in elb.describe_target_groups(Names=["parity-tg"])["TargetGroups"][0]["LoadBalancerArns"]])
    record("delete tg in use", error_code(elb.delete_target_group, TargetGroupArn=tg["TargetGroupArn"]))
    elb.register_targets(TargetGroupArn=tg["TargetGroupArn"], Targets=[{"Id": "10.0.0.1", "Port": 5000}, {"Id": "10.0.0.2", "Port": 5000}])
    health = elb.describe_target_health(TargetGroupArn=tg["TargetGroupArn"])["TargetHealthDescriptions"]
    record("registered", sorted((h["Target"]["Id"], h["Target"]["Port"]) for h in health))
    elb.deregister_targets(TargetGroupArn=tg["TargetGroupArn"], Targets=[{"Id": "10.0.0.1", "Port": 5000}])
    health = elb.describe_target_health(TargetGroupArn=tg["TargetGroupArn"])["TargetHealthDescriptions"]
    record("after deregister", sorted(h["Target"]["Id"] for h in health))
    elb.delete_listener(ListenerArn=listener["ListenerArn"])
    record("listener deleted", error_code(elb.describe_listeners, ListenerArns=[listener["ListenerArn"]]))
    elb.delete_target_group(TargetGroupArn=tg["TargetGroupArn"])
    record("tg deleted", error_code(elb.describe_target_groups, Names=["parity-tg"]))
    for a in arns:
        elb.delete_load_balancer(LoadBalancerArn=a)
    record("lbs after delete", elb.describe_load_balancers()["LoadBalancers"])


route53()
elbv2()
print(json.dumps(OUT, indent=1, sort_keys=True))
