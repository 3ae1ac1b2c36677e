//! One test per diagnostic: its code, where it points (line, column), and that the help says what
//! to do. The corpus, snapshot and mutation tests are in `tests/appspec_*.rs`.

use super::*;

const EC2: &str = "version: 0.0\nos: linux\n";
const ECS: &str = "version: 0.0\nResources:\n  - TargetService:\n      Type: AWS::ECS::Service\n      Properties:\n        TaskDefinition: arn:aws:ecs:us-east-1:1:task-definition/web:3\n        LoadBalancerInfo:\n          ContainerName: web\n          ContainerPort: 80\n";
const LAMBDA: &str = "version: 0.0\nResources:\n  - fn:\n      Type: AWS::Lambda::Function\n      Properties:\n        Name: api\n        Alias: live\n        CurrentVersion: 1\n        TargetVersion: 2\n";

/// The first diagnostic with `code`, or a panic listing what there was.
fn find(src: &str, code: &str) -> Diagnostic {
    let parsed = parse_appspec(src);
    match parsed.diagnostics.iter().find(|d| d.code == code) {
        Some(d) => d.clone(),
        None => panic!("no {code} in:\n{src}\ngot: {:#?}", parsed.diagnostics),
    }
}

/// `code` is reported at `line:col`, and the file is (in)valid accordingly.
fn at(src: &str, code: &str, line: u32, col: u32) -> Diagnostic {
    let d = find(src, code);
    assert_eq!((d.span.line, d.span.col), (line, col), "{code} at the wrong place: {d:#?}");
    let parsed = parse_appspec(src);
    assert_eq!(parsed.spec.is_none(), parsed.has_errors());
    if d.is_error() {
        assert!(parsed.spec.is_none());
    }
    d
}

fn valid(src: &str) -> AppSpec {
    let parsed = parse_appspec(src);
    assert!(!parsed.has_errors(), "{:#?}", parsed.diagnostics);
    parsed.spec.expect("valid")
}

fn help(d: &Diagnostic) -> &str {
    d.help.as_deref().unwrap_or_default()
}

#[test]
fn the_three_shapes_are_told_apart() {
    assert_eq!(valid(EC2).compute_platform(), ComputePlatform::Server);
    assert_eq!(valid(ECS).compute_platform(), ComputePlatform::Ecs);
    assert_eq!(valid(LAMBDA).compute_platform(), ComputePlatform::Lambda);
    // By properties when the type is missing or wrong, and the error says what was read.
    let d = at("version: 0.0\nResources:\n  - fn:\n      Properties: {Name: a, Alias: b, CurrentVersion: 1, TargetVersion: 2}\n", "E1404", 4, 7);
    assert!(d.notes[0].contains("a Lambda AppSpec file: its resource has the Lambda property `Alias`"), "{d:?}");
    let p = parse_appspec("version: 0.0\nHooks:\n  - AfterAllowTestTraffic: f\n");
    assert_eq!(p.platform, Some(ComputePlatform::Ecs));
    assert!(p.diagnostics.iter().any(|d| d.code == "E1400"));
}

#[test]
fn empty_and_non_mapping_files() {
    at("# nothing\n", "E1000", 1, 1);
    at("- version: 0.0\n", "E1001", 1, 1);
    let d = at("version: 0.0\nResources:\n  - thing:\n      Type: AWS::S3::Bucket\n", "E1002", 2, 1);
    assert!(help(&d).contains("AWS::ECS::Service"));
    let d = at("AWSTemplateFormatVersion: '2010-09-09'\nResources:\n  fn:\n    Type: AWS::Serverless::Function\n", "E1003", 1, 1);
    assert!(d.message.contains("CloudFormation"));
}

#[test]
fn yaml_errors_get_appspec_help() {
    let d = at("version: 0.0\nos: linux\nhooks:\n  AfterInstall:\n    - location: \"x\n", "E0001", 5, 17);
    assert!(help(&d).contains("quoted") && !help(&d).contains("command"), "{d:?}");
    at("version: 0.0\nos: linux\nos: windows\n", "E0002", 3, 1);
}

#[test]
fn version_must_be_the_number_zero() {
    let d = at("os: linux\nfiles: []\n", "E1010", 1, 1);
    assert!(help(&d).contains("version: 0.0"));
    at("version: 1.0\nos: linux\n", "E1011", 1, 10);
    at(&ECS.replacen("0.0", "0.1", 1), "E1011", 1, 10);
    let d = at("version: \"0.0\"\nos: linux\n", "E1012", 1, 10);
    assert!(help(&d).contains("remove the quotes"));
    // ECS/Lambda: unknown whether the service takes a string, so a warning, and valid.
    let src = ECS.replacen("version: 0.0", "version: '0.0'", 1);
    at(&src, "W1012", 1, 10);
    valid(&src);
    // Both agents accept any number equal to 0.
    assert_eq!(valid("version: 0\nos: linux\n").version.value, "0");
    at("version: [0]\nos: linux\n", "E0010", 1, 10);
}

#[test]
fn ec2_keys_are_case_sensitive_ecs_and_lambda_keys_are_not() {
    let d = at("version: 0.0\nos: linux\nHooks:\n  AfterInstall:\n    - location: a.sh\n", "E1020", 3, 1);
    assert!(help(&d).contains("`hooks`"), "{d:?}");
    at("version: 0.0\nos: linux\nhooks:\n  AfterInstall:\n    - Location: a.sh\n", "E1020", 5, 7);
    // The user guide's own lowercase Lambda form is read.
    let spec = valid("version: 0.0\nresources:\n  - fn:\n      type: AWS::Lambda::Function\n      properties:\n        name: api\n        alias: live\n        currentversion: 1\n        targetversion: 2\nhooks:\n  - BeforeAllowTraffic: check\n");
    let Platform::Lambda(l) = spec.platform else { panic!() };
    assert_eq!((l.function.current_version.value, l.function.target_version.value), (1, 2));
    assert_eq!(l.hooks[0].function.value, "check");
    // Unknown keys are warnings with a suggestion, as in buildspecs.
    let d = at(&format!("{EC2}file:\n  - source: a\n"), "W0001", 3, 1);
    assert_eq!(help(&d), "did you mean `files`?");
    assert_eq!(d.label.as_deref(), Some("not an appspec key here"));
}

#[test]
fn a_hook_outside_hooks_is_an_error() {
    let src = "version: 0.0\nos: linux\nhooks:\n   BeforeInstall:\n    - location: a.sh\n\\   AfterInstall:\n    - location: b.sh\n";
    let d = at(src, "E1021", 6, 1);
    assert!(help(&d).contains("stray"), "{d:?}");
    let d = at("version: 0.0\nos: linux\nApplicationStart:\n  - location: a.sh\n", "E1021", 3, 1);
    assert!(help(&d).starts_with("indent it under `hooks:`"));
}

#[test]
fn keys_of_the_other_shape_are_pointed_out() {
    let d = at(&format!("{ECS}os: linux\n"), "W1022", 10, 1);
    assert!(d.message.contains("an ECS AppSpec file"));
}

#[test]
fn os_and_file_exists_behavior() {
    let d = at("version: 0.0\nfiles:\n  - source: /\n    destination: /srv\n", "E1030", 1, 1);
    assert!(d.notes[0].contains("EC2/on-premises"));
    let d = at("version: 0.0\nos: Linux\n", "E1031", 2, 5);
    assert!(help(&d).contains("write `linux`"), "{d:?}");
    at("version: 0.0\nos: ubuntu\n", "E1031", 2, 5);
    let d = at(&format!("{EC2}file_exists_behavior: overwrite\n"), "E1040", 3, 23);
    assert!(help(&d).contains("`OVERWRITE`"));
    let spec = valid(&format!("{EC2}file_exists_behavior: RETAIN\n"));
    let Platform::Server(s) = spec.platform else { panic!() };
    assert_eq!(s.file_exists_behavior.map(|f| f.value), Some(FileExistsBehavior::Retain));
}

#[test]
fn files_entries() {
    at(&format!("{EC2}files:\n  - destination: /srv\n"), "E1101", 4, 5);
    at(&format!("{EC2}files:\n  - source: app\n    destination: ''\n"), "E1102", 5, 18);
    let d = at(&format!("{EC2}files:\n  - source: app\n    destination: srv/app\n"), "E1103", 5, 18);
    assert!(help(&d).contains("/srv/app"));
    valid("version: 0.0\nos: windows\nfiles:\n  - source: app\n    destination: C:\\inetpub\\app\n");
    at("version: 0.0\nos: windows\nfiles:\n  - source: app\n    destination: inetpub\n", "E1103", 5, 18);
    let d = at(&format!("{EC2}files:\n  - source: ../../etc/shadow\n    destination: /srv\n"), "E1104", 4, 13);
    assert!(d.message.contains("leaves the revision"));
    let d = at(&format!("{EC2}files:\n  - source: app\n    destination: /srv\n    mode: 755\n"), "W1105", 6, 5);
    assert!(help(&d).contains("permissions"));
    at(&format!("{EC2}files: app\n"), "E0010", 3, 8);
}

#[test]
fn permissions_entries() {
    let perm = |body: &str| format!("{EC2}permissions:\n  - object: /srv\n{body}");
    let d = at("version: 0.0\nos: windows\npermissions:\n  - object: C:\\app\n", "E1200", 3, 1);
    assert!(help(&d).contains("icacls"));
    at(&format!("{EC2}permissions:\n  - owner: www\n"), "E1201", 4, 5);
    let d = at(&perm("    type: file\n"), "E1202", 5, 11);
    assert!(help(&d).contains("[file]"));
    let d = at(&perm("    type: [File]\n"), "E1203", 5, 12);
    assert!(help(&d).contains("write `file`"));
    let d = at(&perm("    mode: u+x\n"), "E1204", 5, 11);
    assert!(d.message.contains("`u` is not an octal digit"));
    at(&perm("    mode: 0788\n"), "E1204", 5, 11);
    at(&perm("    mode: '12345'\n"), "E1204", 5, 11);
    let d = at(&perm("    mode: 0644\n"), "W1205", 5, 11);
    assert!(help(&d).contains("`mode: 644`"));
    let quoted = valid(&perm("    mode: '0644'\n"));
    let Platform::Server(s) = quoted.platform else { panic!() };
    assert_eq!(s.permissions[0].mode.as_ref().map(|m| m.value), Some(Mode(0o644)));
    at(&perm("    acls:\n      - u:bob:rwz\n"), "E1206", 6, 9);
    let d = at(&perm("    acls:\n      - u::rwx\n"), "E1207", 6, 9);
    assert!(help(&d).contains("mode"));
    at(&perm("    context:\n      name: unconfined_u\n"), "E1208", 6, 7);
    at(&perm("    context:\n      type: httpd_t\n      range: s2-s1\n"), "E1209", 7, 14);
    let d = at(&perm("    context:\n      user: unconfined_u\n      type: httpd_t\n"), "W1210", 6, 7);
    assert!(help(&d).contains("`name:`"));
}

#[test]
fn ec2_hook_events() {
    let hook = |event: &str| format!("{EC2}hooks:\n  {event}:\n    - location: a.sh\n");
    let d = at(&hook("AfterInstal"), "E1301", 4, 3);
    assert!(help(&d).starts_with("did you mean `AfterInstall`?"), "{d:?}");
    let d = at(&hook("Install"), "E1302", 4, 3);
    assert!(help(&d).contains("`BeforeInstall` or `AfterInstall`"), "{d:?}");
    let d = at(&hook("DownloadBundle"), "E1302", 4, 3);
    assert!(help(&d).contains("ApplicationStop"));
    let d = at(&hook("AllowTraffic"), "E1302", 4, 3);
    assert!(help(&d).contains("`BeforeAllowTraffic` or `AfterAllowTraffic`"));
    at(&hook("Start"), "E1302", 4, 3);
    let d = at(&hook("AfterAllowTestTraffic"), "E1303", 4, 3);
    assert!(d.message.contains("EC2/on-premises deployments") && d.label.as_deref() == Some("an event of ECS deployments"), "{d:?}");
    let d = at(&hook("afterInstall"), "E1304", 4, 3);
    assert!(help(&d).contains("`AfterInstall`"));
    let d = at(&format!("{EC2}hooks:\n  - AfterInstall: a.sh\n"), "E1300", 4, 3);
    assert!(help(&d).contains("ECS and Lambda form"));
}

#[test]
fn ec2_hook_scripts() {
    let script = |body: &str| format!("{EC2}hooks:\n  AfterInstall:\n{body}");
    let d = at(&format!("{EC2}hooks:\n  AfterInstall: scripts/a.sh\n"), "E1305", 4, 17);
    assert!(help(&d).contains("- location: scripts/a.sh"));
    at(&script("    - scripts/a.sh\n"), "E1305", 5, 7);
    at(&script("    - location: a.sh\n      timeout: 0\n"), "E1306", 6, 16);
    at(&script("    - location: a.sh\n      timeout: soon\n"), "E1306", 6, 16);
    let d = at(&script("    - location: a.sh\n      timeout: 4000\n"), "E1307", 6, 16);
    assert!(d.message.contains("at most 3600"));
    let d = at(&script("    - location: a.sh\n      timeout: 3000\n    - location: b.sh\n      timeout: 1000\n"), "W1308", 5, 5);
    assert!(d.message.contains("4000 s"));
    at(&script("    - location: ../../bin/evil\n"), "E1309", 5, 17);
    at(&script("    - location: scripts\\..\\..\\evil.ps1\n"), "E1309", 5, 17);
    at(&script("    - location: \"a.sh\\0.txt\"\n"), "E1309", 5, 17);
    let d = at(&script("    - location: /scripts/a.sh\n"), "W1310", 5, 17);
    assert!(help(&d).contains("write `scripts/a.sh`"));
    at("version: 0.0\nos: windows\nhooks:\n  AfterInstall:\n    - location: a.ps1\n      runas: admin\n", "W1311", 6, 7);
    at(&script("    - location: a.sh\n      sudo: true\n"), "W1312", 6, 7);
    at(&script("    - location: a.sh\n      timeout: \"300\"\n"), "W1313", 6, 16);
    at(&script("    - timeout: 30\n"), "E1315", 5, 7);
    at(&script("    - location: ' '\n"), "E1315", 5, 17);
}

#[test]
fn ec2_model_for_the_deploy_engine() {
    let spec = valid(&format!(
        "{EC2}hooks:\n  ApplicationStart:\n    - location: ' start.sh '\n    - location: check.sh\n      timeout: 60\n      runas: app\n  ValidateService:\n"
    ));
    let Platform::Server(s) = &spec.platform else { panic!() };
    let start = s.scripts(Event::ApplicationStart);
    assert_eq!(start.len(), 2);
    assert_eq!((start[0].location.value.as_str(), start[0].timeout_secs(), start[0].runas.as_ref()), ("start.sh", 3600, None));
    assert_eq!((start[1].timeout_secs(), start[1].runas.as_ref().map(|r| r.value.as_str())), (60, Some("app")));
    assert_eq!((start[1].location.span.line, start[1].location.span.col), (6, 17));
    assert!(s.scripts(Event::ValidateService).is_empty());
    assert!(s.hooks.iter().any(|h| h.event.value == Event::ValidateService), "an empty event is kept");
    assert!(s.scripts(Event::BeforeInstall).is_empty());
}

#[test]
fn ecs_and_lambda_hooks() {
    let d = at(&format!("{ECS}Hooks:\n  - ValidateService: f\n"), "E1303", 11, 5);
    assert!(help(&d).contains("BeforeInstall, AfterInstall, AfterAllowTestTraffic, BeforeAllowTraffic, AfterAllowTraffic"), "{d:?}");
    at(&format!("{LAMBDA}Hooks:\n  - BeforeInstall: f\n"), "E1303", 11, 5);
    let d = at(&format!("{ECS}Hooks:\n  - TestTraffic: f\n"), "E1302", 11, 5);
    assert!(help(&d).contains("AfterAllowTestTraffic"));
    at(&format!("{ECS}Hooks:\n  - AllowTestTraffic: f\n"), "E1302", 11, 5);
    at(&format!("{LAMBDA}Hooks:\n  - beforeAllowTraffic: f\n"), "E1304", 11, 5);
    let d = at(&format!("{ECS}Hooks:\n  BeforeInstall: f\n"), "E1300", 11, 3);
    assert!(help(&d).contains("- BeforeAllowTraffic"));
    let d = at(&format!("{ECS}Hooks:\n  - AfterInstall: a\n  - AfterInstall: b\n"), "E1314", 12, 5);
    assert_eq!(d.notes[0], "first hooked at line 11, column 5");
    at(&format!("{LAMBDA}Hooks:\n  - AfterAllowTraffic: \"\"\n"), "E1316", 11, 24);
    at(&format!("{LAMBDA}Hooks:\n  - AfterAllowTraffic:\n"), "E1316", 12, 1);
    let spec = valid(&format!("{ECS}Hooks:\n  - AfterAllowTestTraffic: arn:aws:lambda:us-east-1:1:function:check\n"));
    let Platform::Ecs(e) = &spec.platform else { panic!() };
    let hook = function_hook(&e.hooks, Event::AfterAllowTestTraffic).expect("hooked");
    assert_eq!((hook.function.span.line, hook.function.span.col), (11, 28));
}

#[test]
fn ecs_resources() {
    let with = |props: &str| format!("version: 0.0\nResources:\n  - TargetService:\n      Type: AWS::ECS::Service\n      Properties:\n{props}");
    at("version: 0.0\nHooks:\n  - AfterInstall: f\n", "E1400", 1, 1);
    let d = at("version: 0.0\nResources:\n  TargetService:\n    Type: AWS::ECS::Service\n", "E1401", 3, 16);
    assert!(help(&d).contains("CloudFormation"));
    at(&format!("{ECS}  - Other:\n      Type: AWS::ECS::Service\n"), "E1402", 10, 5);
    let d = at("version: 0.0\nResources:\n  - Type: AWS::ECS::Service\n    Properties: {TaskDefinition: t}\n", "E1403", 3, 5);
    assert!(help(&d).contains("- TargetService:"));
    let d = at(&ECS.replace("AWS::ECS::Service", "aws::ecs::service"), "E1404", 4, 13);
    assert!(help(&d).contains("write `AWS::ECS::Service`"));
    at("version: 0.0\nResources:\n  - TargetService:\n      Type: AWS::ECS::Service\n", "E1405", 4, 7);
    at(&with("        LoadBalancerInfo: {ContainerName: web, ContainerPort: 80}\n"), "E1406", 6, 9);
    at(&with("        TaskDefinition: t\n        LoadBalancerInfo: {ContainerPort: 80}\n"), "E1406", 7, 27);
    at(&with("        TaskDefinition: t\n        LoadBalancerInfo: {ContainerName: '', ContainerPort: 80}\n"), "E1407", 7, 43);
    let d = at(&with("        TaskDefinition: t\n        LoadBalancerInfo: {ContainerName: web, ContainerPort: 70000}\n"), "E1408", 7, 63);
    assert!(d.message.contains("from 1 to 65535, found `70000`"));
    // A quoted port (common in real files) is read as the number.
    let spec = valid(&ECS.replace("ContainerPort: 80", "ContainerPort: \"8080\""));
    let Platform::Ecs(e) = spec.platform else { panic!() };
    assert_eq!(e.service.container_port.value, 8080);
    let net = |vpc: &str| format!("{ECS}        NetworkConfiguration:\n          AwsvpcConfiguration:\n{vpc}");
    let d = at(&net("            Subnets: [s-1]\n            AssignPublicIp: ENABLED\n"), "E1409", 12, 13);
    assert!(d.message.contains("no SecurityGroups"));
    at(&net("            Subnets: [s-1]\n            SecurityGroups: [g]\n            AssignPublicIp: enabled\n"), "E1410", 14, 29);
    let spec = valid(&net("            Subnets: [s-1, s-2]\n            SecurityGroups: [g]\n            AssignPublicIp: DISABLED\n"));
    let Platform::Ecs(e) = spec.platform else { panic!() };
    assert_eq!(e.service.network.map(|n| (n.subnets.len(), n.assign_public_ip.value)), Some((2, false)));
    let cps = |items: &str| format!("{ECS}        CapacityProviderStrategy:\n{items}");
    at(&cps("          - {CapacityProvider: A, Base: 1, Weight: 1}\n          - {CapacityProvider: B, Base: 2, Weight: 1}\n"), "E1411", 12, 32);
    at(&cps("          - {CapacityProvider: A, Weight: 0}\n          - {CapacityProvider: B}\n"), "E1411", 11, 11);
    at(&cps(&"          - {CapacityProvider: A, Weight: 1}\n".repeat(7)), "E1411", 17, 13);
    at(&cps("          - {CapacityProvider: A, Weight: 1001}\n"), "E1411", 11, 43);
    at(&cps("          - {Weight: 1}\n"), "E1406", 11, 13);
}

#[test]
fn lambda_resources() {
    let d = at(&LAMBDA.replace("TargetVersion: 2", "TargetVersion: $LATEST"), "E1412", 9, 24);
    assert!(help(&d).contains("publish"));
    at(&LAMBDA.replace("CurrentVersion: 1", "CurrentVersion: 0"), "E1412", 8, 25);
    let d = at(&LAMBDA.replace("TargetVersion: 2", "TargetVersion: \"1\""), "W1413", 9, 24);
    assert!(d.message.contains("both 1"));
    at(&LAMBDA.replace("        Alias: live\n", ""), "E1406", 6, 9);
    let d = at(&format!("{LAMBDA}  - second:\n      Type: AWS::Lambda::Function\n"), "E1402", 10, 5);
    assert!(d.message.contains("exactly one function"));
}

#[test]
fn json_appspecs_are_located_too() {
    // The user guide's JSON layout, tabs included.
    let src = "{\n\t\"version\": 0.0,\n\t\"Resources\": [\n\t\t{\n\t\t\t\"TargetService\": {\n\t\t\t\t\"Type\": \"AWS::ECS::Service\",\n\t\t\t\t\"Properties\": {\n\t\t\t\t\t\"TaskDefinition\": \"arn:aws:ecs:us-east-1:1:task-definition/web:3\",\n\t\t\t\t\t\"LoadBalancerInfo\": {\"ContainerName\": \"web\", \"ContainerPort\": 80}\n\t\t\t\t}\n\t\t\t}\n\t\t}\n\t],\n\t\"Hooks\": [{\"BeforeInstall\": \"pre\"}, {\"AfterAllowTraffic\": \"post\"}]\n}\n";
    let spec = valid(src);
    let Platform::Ecs(e) = &spec.platform else { panic!() };
    assert_eq!((e.service.container_port.span.line, e.service.container_port.span.col), (9, 68));
    assert_eq!(&src[e.service.container_port.span.offset..][..2], "80");
    // A quoted value's span starts at its opening quote.
    assert_eq!((e.service.container_name.span.line, e.service.container_name.span.col), (9, 44));
    assert_eq!(&src[e.service.container_name.span.offset..][..5], "\"web\"");
    assert_eq!(e.hooks.iter().map(|h| (h.event.value, h.event.span.col)).collect::<Vec<_>>(), [(Event::BeforeInstall, 13), (Event::AfterAllowTraffic, 39)]);
    // Errors in JSON point at the right place.
    let bad = src.replace("\"AfterAllowTraffic\"", "\"AfterAllowTrafic\"");
    let d = at(&bad, "E1301", 14, 39);
    assert!(help(&d).starts_with("did you mean `AfterAllowTraffic`?"));
    // An EC2 file in JSON, with a quoted version: refused as for YAML.
    at("{\"version\": \"0.0\", \"os\": \"linux\"}", "E1012", 1, 13);
    let server = valid("{\"version\": 0.0, \"os\": \"linux\", \"files\": [{\"source\": \"/\", \"destination\": \"/srv\"}],\n \"hooks\": {\"AfterInstall\": [{\"location\": \"a.sh\", \"timeout\": 30}]}}");
    let Platform::Server(s) = server.platform else { panic!() };
    assert_eq!(s.scripts(Event::AfterInstall)[0].timeout_secs(), 30);
    assert_eq!(s.hooks[0].event.span.line, 2);
}

#[test]
fn appspec_or_buildspec_by_content() {
    assert!(looks_like_appspec(EC2));
    assert!(looks_like_appspec(ECS));
    assert!(looks_like_appspec("{\"version\": 0.0, \"Resources\": []}"));
    assert!(!looks_like_appspec("version: 0.2\nphases:\n  build:\n    commands: [make]\n"));
    assert!(!looks_like_appspec("version: 0.2\nphases: {}\nhooks: x\n"));
    assert!(!looks_like_appspec(": : :"));
}
