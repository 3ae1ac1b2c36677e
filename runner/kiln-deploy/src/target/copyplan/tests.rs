use super::*;
use std::os::unix::fs::symlink;

fn spec(yaml: &str) -> ServerAppSpec {
    let parsed = kiln_spec::parse_appspec(yaml);
    match parsed.spec.map(|s| s.platform) {
        Some(kiln_spec::appspec::Platform::Server(s)) => s,
        _ => panic!("{:?}", parsed.diagnostics),
    }
}

fn bundle() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    fs::create_dir_all(d.path().join("app/lib")).unwrap();
    fs::write(d.path().join("app/index.html"), "hi").unwrap();
    fs::write(d.path().join("app/lib/a.js"), "a").unwrap();
    symlink("/etc/passwd", d.path().join("app/passwd")).unwrap();
    fs::create_dir_all(d.path().join("conf")).unwrap();
    fs::write(d.path().join("conf/web.conf"), "c").unwrap();
    symlink("conf", d.path().join("linked")).unwrap();
    d
}

const SPEC: &str = "version: 0.0\nos: linux\nfiles:\n  - source: /app\n    destination: /srv/web\n  - source: conf/web.conf\n    destination: /etc/web\n";

#[test]
fn directories_copy_their_contents_and_files_go_under_the_destination() {
    let b = bundle();
    let plan = copy_plan(&spec(SPEC), b.path()).unwrap();
    let dests: Vec<String> = plan.entries.iter().map(|e| e.destination.display().to_string()).collect();
    assert_eq!(dests, ["/srv/web/index.html", "/srv/web/lib", "/srv/web/lib/a.js", "/srv/web/passwd", "/etc/web/web.conf"]);
    // The link is recreated, not followed.
    assert_eq!(plan.entries[3].kind, EntryKind::Symlink(PathBuf::from("/etc/passwd")));
}

#[test]
fn cleanup_first_then_ancestors_created_and_recorded() {
    let b = bundle();
    let s = spec(SPEC);
    let plan = copy_plan(&s, b.path()).unwrap();
    let exists = |p: &Path| match p.to_str().unwrap() {
        "/srv" | "/etc" => Existing::Dir,
        "/srv/web/index.html" => Existing::File, // left by the previous install: on the cleanup list
        _ => Existing::Missing,
    };
    let prev = vec!["/srv/web".to_string(), "/srv/web/index.html".to_string()];
    let steps = resolve(&plan, &s, &prev, FileExistsBehavior::Disallow, &exists).unwrap();
    assert_eq!(steps.steps[0], Step::Remove("/srv/web/index.html".into()));
    assert_eq!(steps.steps[1], Step::Remove("/srv/web".into()));
    assert_eq!(steps.steps[2], Step::Mkdir("/srv/web".into()));
    assert_eq!(steps.cleanup, ["/srv/web", "/srv/web/index.html", "/srv/web/lib", "/srv/web/lib/a.js", "/srv/web/passwd", "/etc/web", "/etc/web/web.conf"]);
}

#[test]
fn file_exists_behavior_disallow_overwrite_retain_and_precedence() {
    let b = bundle();
    let s = spec(SPEC);
    let plan = copy_plan(&s, b.path()).unwrap();
    let exists = |p: &Path| match p.to_str().unwrap() {
        "/srv" | "/etc" | "/srv/web" => Existing::Dir,
        "/etc/web" => Existing::Dir,
        "/etc/web/web.conf" => Existing::File,
        _ => Existing::Missing,
    };
    let err = resolve(&plan, &s, &[], FileExistsBehavior::Disallow, &exists).unwrap_err();
    assert_eq!(err.to_string(), "The deployment failed because a specified file already exists at this location: /etc/web/web.conf");
    let over = resolve(&plan, &s, &[], FileExistsBehavior::Overwrite, &exists).unwrap();
    assert!(over.cleanup.contains(&"/etc/web/web.conf".to_string()));
    let keep = resolve(&plan, &s, &[], FileExistsBehavior::Retain, &exists).unwrap();
    assert!(keep.steps.contains(&Step::Retain("/etc/web/web.conf".into())));
    assert!(!keep.cleanup.contains(&"/etc/web/web.conf".to_string()), "a retained file is never recorded");
    // Existing directories are not recorded (the next install must not remove them).
    assert!(!keep.cleanup.contains(&"/srv/web".to_string()));
    // The appspec's key beats the deployment's setting.
    let s2 = spec(&format!("{SPEC}file_exists_behavior: RETAIN\n"));
    assert!(resolve(&plan, &s2, &[], FileExistsBehavior::Disallow, &exists).is_ok());
}

#[test]
fn hostile_sources_are_refused() {
    let b = bundle();
    let through = spec("version: 0.0\nos: linux\nfiles:\n  - source: linked/web.conf\n    destination: /etc\n");
    assert!(matches!(copy_plan(&through, b.path()), Err(CopyPlanError::ThroughLink(_))));
    let missing = spec("version: 0.0\nos: linux\nfiles:\n  - source: nope\n    destination: /etc\n");
    assert!(matches!(copy_plan(&missing, b.path()), Err(CopyPlanError::MissingSource(_))));
    assert!(matches!(relative_source("a/../../etc"), Err(CopyPlanError::Outside(_))));
    let twice = spec("version: 0.0\nos: linux\nfiles:\n  - source: conf\n    destination: /etc\n  - source: conf/web.conf\n    destination: /etc\n");
    assert!(matches!(copy_plan(&twice, b.path()), Err(CopyPlanError::Collision(_))));
}

#[test]
fn a_whole_revision_source_and_deep_trees_are_bounded() {
    let d = tempfile::tempdir().unwrap();
    let mut p = d.path().to_path_buf();
    for _ in 0..(MAX_DEPTH + 2) {
        p.push("d");
    }
    fs::create_dir_all(&p).unwrap();
    let s = spec("version: 0.0\nos: linux\nfiles:\n  - source: /\n    destination: /srv\n");
    assert!(matches!(copy_plan(&s, d.path()), Err(CopyPlanError::TooDeep(_))));
}

#[test]
fn permissions_apply_to_what_install_creates() {
    let b = bundle();
    let s = spec(
        "version: 0.0\nos: linux\nfiles:\n  - source: /app\n    destination: /srv/web\npermissions:\n  - object: /srv/web\n    pattern: \"*.html\"\n    mode: \"644\"\n    type: [file]\n  - object: /srv/web\n    except: [a.js]\n    owner: www\n  - object: /srv/web/index.html\n    mode: \"600\"\n",
    );
    let plan = copy_plan(&s, b.path()).unwrap();
    let exists = |p: &Path| if p.to_str() == Some("/srv") { Existing::Dir } else { Existing::Missing };
    let steps = resolve(&plan, &s, &[], FileExistsBehavior::Disallow, &exists).unwrap();
    let targets = permission_targets(&steps, &s.permissions);
    let by_path: HashMap<String, Vec<usize>> = targets.iter().map(|t| (t.path.display().to_string(), t.entries.clone())).collect();
    // The object itself (a directory) is never a target.
    assert!(!by_path.contains_key("/srv/web"));
    assert_eq!(by_path["/srv/web/index.html"], [0, 1, 2]);
    assert_eq!(by_path["/srv/web/lib"], [1]);
    assert!(!by_path.contains_key("/srv/web/lib/a.js"), "excepted");
    assert!(glob_match("*.html", "index.html") && !glob_match("*.html", "index.htm") && glob_match("a*b*c", "aXbYc"));
}
