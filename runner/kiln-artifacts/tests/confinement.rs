//! Confinement: patterns, symlinks and special files never lead outside the working copy.

mod common;

use std::fs;
use std::path::PathBuf;

use common::{Tree, paths, spec};
use kiln_artifacts::{ArtifactError, ArtifactSpec, Selection, select};

fn sample() -> Tree {
    let t = Tree::new();
    t.file("app.jar", "jar\n")
        .file("README.md", "readme\n")
        .file("lib/a.so", "a\n")
        .file("lib/deep/b.so", "b\n");
    t
}

#[test]
fn patterns_leaving_the_working_copy_are_refused() {
    let t = sample();
    let escapes = |s: ArtifactSpec| match select(&t.root, &s) {
        Err(ArtifactError::PatternEscapes { field, .. }) => field,
        other => panic!("expected PatternEscapes, got {other:?}"),
    };
    assert_eq!(escapes(spec(&["../outside/secret.txt"])), "files");
    assert_eq!(escapes(spec(&["lib/../../outside/*"])), "files");
    assert_eq!(escapes(spec(&["/etc/passwd"])), "files");
    let abs = t.outside.join("secret.txt");
    assert_eq!(escapes(spec(&[abs.to_str().unwrap()])), "files");
    assert_eq!(
        escapes(ArtifactSpec {
            base_directory: Some("../outside".into()),
            ..spec(&["*"])
        }),
        "base-directory"
    );
    assert_eq!(
        escapes(ArtifactSpec {
            base_directory: Some("/tmp".into()),
            ..spec(&["*"])
        }),
        "base-directory"
    );
    assert_eq!(
        escapes(ArtifactSpec {
            exclude_paths: vec!["../x".into()],
            ..spec(&["*"])
        }),
        "exclude-paths"
    );
    let msg = select(&t.root, &spec(&["../outside/secret.txt"]))
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("'../outside/secret.txt'") && msg.contains("outside the working copy"),
        "{msg}"
    );
}

#[test]
fn base_directory_symlinked_outside_is_refused() {
    let t = sample();
    t.link("dist", &t.outside);
    let s = ArtifactSpec {
        base_directory: Some("dist".into()),
        ..spec(&["**/*"])
    };
    let err = select(&t.root, &s).unwrap_err();
    assert!(
        matches!(
            err,
            ArtifactError::PatternEscapes {
                field: "base-directory",
                ..
            }
        ),
        "{err}"
    );
    // A glob never picks it either.
    let s = ArtifactSpec {
        base_directory: Some("dis*".into()),
        ..spec(&["**/*"])
    };
    assert!(matches!(
        select(&t.root, &s),
        Err(ArtifactError::NoMatchingBaseDirectory { .. })
    ));
}

fn assert_no_outside_content(t: &Tree, sel: &Selection) {
    let outside = t.outside.canonicalize().unwrap();
    for f in &sel.files {
        assert!(f.source.starts_with(&sel.root), "{f:?}");
        assert!(
            !f.source.canonicalize().unwrap().starts_with(&outside),
            "{f:?}"
        );
    }
}

#[test]
fn file_symlink_to_outside_is_skipped_with_a_warning() {
    for keep in [false, true] {
        let t = sample();
        t.link("passwd", "/etc/passwd")
            .link("lib/secret", t.outside.join("secret.txt"));
        t.link("rel-secret", "../outside/secret.txt");
        let s = ArtifactSpec {
            enable_symlinks: keep,
            ..spec(&["**/*"])
        };
        let sel = select(&t.root, &s).unwrap();
        for p in ["passwd", "lib/secret", "rel-secret"] {
            assert!(
                !paths(&sel).contains(&p),
                "{p} selected (enable_symlinks={keep})"
            );
            assert!(
                sel.warnings
                    .iter()
                    .any(|w| w.contains(&format!("'{p}'")) && w.contains("outside")),
                "{:?}",
                sel.warnings
            );
        }
        assert_no_outside_content(&t, &sel);
        // Naming it exactly does not help.
        let err = select(
            &t.root,
            &ArtifactSpec {
                enable_symlinks: keep,
                ..spec(&["passwd"])
            },
        )
        .unwrap_err();
        assert!(
            matches!(err, ArtifactError::NoMatchingArtifactPaths { .. }),
            "{err}"
        );
    }
}

#[test]
fn directory_symlink_to_outside_is_not_walked() {
    for keep in [false, true] {
        let t = sample();
        t.link("vendor", &t.outside).link("lib/etc", "/etc");
        let s = ArtifactSpec {
            enable_symlinks: keep,
            ..spec(&["**/*"])
        };
        let sel = select(&t.root, &s).unwrap();
        assert!(
            paths(&sel)
                .iter()
                .all(|p| !p.starts_with("vendor") && !p.starts_with("lib/etc")),
            "{:?}",
            paths(&sel)
        );
        assert!(
            sel.warnings.iter().any(|w| w.contains("'vendor'")),
            "{:?}",
            sel.warnings
        );
        assert_no_outside_content(&t, &sel);
        let s = ArtifactSpec {
            enable_symlinks: keep,
            ..spec(&["vendor/**/*"])
        };
        assert!(matches!(
            select(&t.root, &s),
            Err(ArtifactError::NoMatchingArtifactPaths { .. })
        ));
    }
}

#[test]
fn internal_symlinks_are_followed_without_enable_symlinks() {
    let t = sample();
    t.link("current.jar", "app.jar").link("libs", "lib");
    let sel = select(&t.root, &spec(&["**/*"])).unwrap();
    let p = paths(&sel);
    assert!(
        p.contains(&"current.jar") && p.contains(&"libs/a.so") && p.contains(&"libs/deep/b.so"),
        "{p:?}"
    );
    let f = sel.files.iter().find(|f| f.path == "current.jar").unwrap();
    assert_eq!(f.symlink_target, None);
    assert_eq!(f.size, 4);
    assert_eq!(fs::read(&f.source).unwrap(), b"jar\n");
}

#[test]
fn internal_symlinks_are_kept_with_enable_symlinks() {
    let t = sample();
    t.link("current.jar", "app.jar").link("libs", "lib");
    t.link("lib/abs.so", t.root.join("lib/deep/b.so"));
    let s = ArtifactSpec {
        enable_symlinks: true,
        ..spec(&["**/*"])
    };
    let sel = select(&t.root, &s).unwrap();
    let get = |p: &str| {
        sel.files
            .iter()
            .find(|f| f.path == p)
            .unwrap_or_else(|| panic!("{p}: {:?}", paths(&sel)))
    };
    assert_eq!(
        get("current.jar").symlink_target,
        Some(PathBuf::from("app.jar"))
    );
    assert_eq!(get("current.jar").size, "app.jar".len() as u64);
    assert_eq!(get("libs").symlink_target, Some(PathBuf::from("lib")));
    // An absolute target inside the working copy is stored relative.
    assert_eq!(
        get("lib/abs.so").symlink_target,
        Some(PathBuf::from("deep/b.so"))
    );
    assert!(!paths(&sel).contains(&"libs/a.so"));
}

#[test]
fn kept_symlinks_that_would_leave_the_artifact_are_resolved_or_skipped() {
    let t = Tree::new();
    t.file("common/data.txt", "data\n")
        .file("dist/app.js", "js\n");
    t.link("dist/data.txt", "../common/data.txt")
        .link("dist/common", "../common");
    let s = ArtifactSpec {
        enable_symlinks: true,
        base_directory: Some("dist".into()),
        ..spec(&["**/*"])
    };
    let sel = select(&t.root, &s).unwrap();
    assert_eq!(paths(&sel), ["app.js", "data.txt"]);
    assert_eq!(sel.files[1].symlink_target, None);
    assert_eq!(sel.files[1].size, 5);
    assert!(
        sel.warnings.iter().any(|w| w.contains("'common'")),
        "{:?}",
        sel.warnings
    );
}

#[test]
fn symlink_loops_and_dangling_links_are_warnings_not_hangs() {
    let t = sample();
    t.link("lib/up", "..")
        .link("self", "self")
        .link("dangling", "nope.txt");
    let sel = select(&t.root, &spec(&["**/*"])).unwrap();
    assert!(paths(&sel).contains(&"app.jar"));
    assert!(
        paths(&sel).iter().all(|p| !p.starts_with("lib/up/lib/up")),
        "{:?}",
        paths(&sel)
    );
    for p in ["self", "dangling"] {
        assert!(
            sel.warnings.iter().any(|w| w.contains(&format!("'{p}'"))),
            "{p}: {:?}",
            sel.warnings
        );
    }
}

#[test]
fn fifos_are_skipped() {
    let t = sample();
    let fifo = t.root.join("pipe");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    if !made.map(|s| s.success()).unwrap_or(false) {
        println!("note: mkfifo not available; skipping");
        return;
    }
    let sel = select(&t.root, &spec(&["**/*"])).unwrap();
    assert!(!paths(&sel).contains(&"pipe"));
    assert!(
        sel.warnings
            .iter()
            .any(|w| w.contains("'pipe'") && w.contains("not a regular file"))
    );
}
