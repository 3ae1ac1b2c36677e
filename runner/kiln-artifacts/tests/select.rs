//! Selection rules: globs, dotfiles, base-directory, discard-paths, exclude-paths, no-match.

mod common;

use common::{Tree, paths, spec};
use kiln_artifacts::{ArtifactError, ArtifactSpec, select};

fn sample() -> Tree {
    let t = Tree::new();
    t.file("app.jar", "jar\n")
        .file("README.md", "readme\n")
        .file(".env", "SECRET=1\n")
        .file("lib/a.so", "a\n")
        .file("lib/deep/b.so", "b\n")
        .file(".config/settings.json", "{}\n")
        .file("logs/build.log", "log\n");
    t
}

#[test]
fn double_star_selects_every_file_recursively_including_dotfiles() {
    let t = sample();
    let sel = select(&t.root, &spec(&["**/*"])).unwrap();
    assert_eq!(
        paths(&sel),
        [
            ".config/settings.json",
            ".env",
            "README.md",
            "app.jar",
            "lib/a.so",
            "lib/deep/b.so",
            "logs/build.log"
        ]
    );
    assert!(sel.warnings.is_empty(), "{:?}", sel.warnings);
}

#[test]
fn single_star_does_not_cross_directories() {
    let t = sample();
    let sel = select(&t.root, &spec(&["*"])).unwrap();
    assert_eq!(paths(&sel), [".env", "README.md", "app.jar"]);
    let sel = select(&t.root, &spec(&["lib/*"])).unwrap();
    assert_eq!(paths(&sel), ["lib/a.so"]);
    let sel = select(&t.root, &spec(&["lib/**/*"])).unwrap();
    assert_eq!(paths(&sel), ["lib/a.so", "lib/deep/b.so"]);
    let sel = select(&t.root, &spec(&["*/*.so"])).unwrap();
    assert_eq!(paths(&sel), ["lib/a.so"]);
}

#[test]
fn literal_files_nested_files_and_dot_slash_prefix() {
    let t = sample();
    let sel = select(&t.root, &spec(&["app.jar", "./lib/deep/b.so"])).unwrap();
    assert_eq!(paths(&sel), ["app.jar", "lib/deep/b.so"]);
    assert_eq!(
        sel.files[0].source,
        t.root.canonicalize().unwrap().join("app.jar")
    );
    assert_eq!(sel.root, t.root.canonicalize().unwrap());
}

#[test]
fn records_size_and_sha256() {
    let t = Tree::new();
    t.file("hello.txt", "hello\n");
    let sel = select(&t.root, &spec(&["hello.txt"])).unwrap();
    assert_eq!(sel.files[0].size, 6);
    assert_eq!(
        sel.files[0].sha256,
        "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"
    );
    assert_eq!(sel.files[0].symlink_target, None);
}

#[test]
fn a_pattern_naming_a_directory_selects_nothing_and_says_what_to_write() {
    let t = sample();
    let sel = select(&t.root, &spec(&["lib", "app.jar"])).unwrap();
    assert_eq!(paths(&sel), ["app.jar"]);
    assert!(
        sel.warnings
            .iter()
            .any(|w| w.contains("'lib'") && w.contains("lib/**/*")),
        "{:?}",
        sel.warnings
    );

    let err = select(&t.root, &spec(&["lib/"])).unwrap_err();
    assert!(
        matches!(err, ArtifactError::NoMatchingArtifactPaths { .. }),
        "{err}"
    );
}

#[test]
fn a_pattern_matching_nothing_is_a_warning_while_others_match() {
    let t = sample();
    let sel = select(&t.root, &spec(&["missing.jar", "app.jar"])).unwrap();
    assert_eq!(paths(&sel), ["app.jar"]);
    assert!(
        sel.warnings
            .iter()
            .any(|w| w.contains("'missing.jar' matched no files")),
        "{:?}",
        sel.warnings
    );
}

#[test]
fn nothing_matching_at_all_is_codebuilds_no_matching_artifact_paths() {
    let t = sample();
    let err = select(&t.root, &spec(&["target/*.war"])).unwrap_err();
    assert!(matches!(err, ArtifactError::NoMatchingArtifactPaths { .. }));
    let msg = err.to_string();
    assert!(
        msg.contains("no matching artifact paths found") && msg.contains("target/*.war"),
        "{msg}"
    );

    let t = Tree::new();
    let err = select(
        &t.root,
        &ArtifactSpec {
            identifier: Some("reports".into()),
            ..spec(&["**/*"])
        },
    )
    .unwrap_err();
    assert!(err.to_string().contains("'reports'"), "{err}");
}

#[test]
fn empty_files_list_and_bad_globs_are_errors() {
    let t = sample();
    assert!(matches!(
        select(&t.root, &spec(&[])),
        Err(ArtifactError::NoFilePatterns { .. })
    ));
    let err = select(&t.root, &spec(&["lib/[a"])).unwrap_err();
    assert!(
        matches!(err, ArtifactError::InvalidPattern { field: "files", .. }),
        "{err}"
    );
    let err = select(
        &t.root,
        &ArtifactSpec {
            exclude_paths: vec!["{a".into()],
            ..spec(&["**/*"])
        },
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            ArtifactError::InvalidPattern {
                field: "exclude-paths",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn missing_work_dir_is_an_error() {
    let t = Tree::new();
    let err = select(&t.root.join("nope"), &spec(&["**/*"])).unwrap_err();
    assert!(matches!(err, ArtifactError::WorkDir { .. }), "{err}");
}

#[test]
fn one_file_matched_by_several_patterns_is_selected_once() {
    let t = sample();
    let sel = select(&t.root, &spec(&["*.jar", "app.jar", "**/*.jar"])).unwrap();
    assert_eq!(paths(&sel), ["app.jar"]);
}

/// The two examples of the CodeBuild guide's `base-directory` section.
fn guide_tree() -> Tree {
    let t = Tree::new();
    t.file("my-build-1/my-file-1.txt", "1\n")
        .file("my-build-2/my-file-2.txt", "2\n")
        .file("my-build-2/my-subdirectory/my-file-3.txt", "3\n");
    t
}

#[test]
fn base_directory_makes_patterns_and_paths_relative_to_it() {
    let t = guide_tree();
    let s = ArtifactSpec {
        base_directory: Some("my-build-2".into()),
        ..spec(&["*/my-file-3.txt"])
    };
    let sel = select(&t.root, &s).unwrap();
    assert_eq!(paths(&sel), ["my-subdirectory/my-file-3.txt"]);
    let s = ArtifactSpec {
        base_directory: Some("./my-build-2/".into()),
        ..spec(&["**/*"])
    };
    assert_eq!(
        paths(&select(&t.root, &s).unwrap()),
        ["my-file-2.txt", "my-subdirectory/my-file-3.txt"]
    );
}

#[test]
fn base_directory_glob_with_discard_paths_flattens_all_matching_directories() {
    let t = guide_tree();
    let s = ArtifactSpec {
        base_directory: Some("my-build*".into()),
        discard_paths: true,
        ..spec(&["**/*"])
    };
    let sel = select(&t.root, &s).unwrap();
    assert_eq!(
        paths(&sel),
        ["my-file-1.txt", "my-file-2.txt", "my-file-3.txt"]
    );
}

#[test]
fn base_directory_glob_keeps_paths_relative_to_each_base() {
    let t = guide_tree();
    let s = ArtifactSpec {
        base_directory: Some("my-build-*".into()),
        ..spec(&["**/*"])
    };
    let sel = select(&t.root, &s).unwrap();
    assert_eq!(
        paths(&sel),
        [
            "my-file-1.txt",
            "my-file-2.txt",
            "my-subdirectory/my-file-3.txt"
        ]
    );
}

#[test]
fn two_base_directories_with_the_same_relative_path_collide() {
    let t = Tree::new();
    t.file("out-a/index.html", "a\n")
        .file("out-b/index.html", "b\n");
    let s = ArtifactSpec {
        base_directory: Some("out-*".into()),
        ..spec(&["**/*"])
    };
    let err = select(&t.root, &s).unwrap_err();
    let ArtifactError::DuplicatePath {
        path,
        first,
        second,
    } = &err
    else {
        panic!("{err}")
    };
    assert_eq!(path, "index.html");
    assert!(first.ends_with("out-a/index.html") && second.ends_with("out-b/index.html"));
}

#[test]
fn missing_base_directory_is_codebuilds_no_matching_base_directory() {
    let t = guide_tree();
    for base in ["cdk.out", "nothing-*", "my-build-1/my-file-1.txt"] {
        let s = ArtifactSpec {
            base_directory: Some(base.into()),
            ..spec(&["**/*"])
        };
        let err = select(&t.root, &s).unwrap_err();
        assert!(
            matches!(err, ArtifactError::NoMatchingBaseDirectory { .. }),
            "{base}: {err}"
        );
        assert!(
            err.to_string()
                .contains("no matching base directory path found for")
        );
    }
}

#[test]
fn discard_paths_flattens_to_file_names() {
    let t = sample();
    let s = ArtifactSpec {
        discard_paths: true,
        ..spec(&["lib/**/*"])
    };
    let sel = select(&t.root, &s).unwrap();
    assert_eq!(paths(&sel), ["a.so", "b.so"]);
    assert!(sel.files[1].source.ends_with("lib/deep/b.so"));
}

#[test]
fn discard_paths_collision_names_both_files() {
    let t = Tree::new();
    t.file("a/config.json", "1\n")
        .file("b/c/config.json", "2\n");
    let s = ArtifactSpec {
        discard_paths: true,
        ..spec(&["**/*.json"])
    };
    let err = select(&t.root, &s).unwrap_err();
    let ArtifactError::DiscardPathsCollision {
        name,
        first,
        second,
    } = &err
    else {
        panic!("{err}")
    };
    assert_eq!(name, "config.json");
    assert!(first.ends_with("a/config.json") && second.ends_with("b/c/config.json"));
    let msg = err.to_string();
    assert!(
        msg.contains("a/config.json")
            && msg.contains("b/c/config.json")
            && msg.contains("discard-paths")
    );
}

#[test]
fn exclude_paths_remove_files_using_the_guides_examples() {
    let t = sample();
    let excl = |pats: &[&str]| {
        let s = ArtifactSpec {
            exclude_paths: pats.iter().map(|p| p.to_string()).collect(),
            ..spec(&["**/*"])
        };
        select(&t.root, &s).unwrap()
    };
    // "To exclude all dot files": "**/.*"
    assert_eq!(
        paths(&excl(&["**/.*"])),
        [
            ".config/settings.json",
            "README.md",
            "app.jar",
            "lib/a.so",
            "lib/deep/b.so",
            "logs/build.log"
        ]
    );
    // "To exclude all dot folders": "**/.*/**/*"
    assert!(!paths(&excl(&["**/.*/**/*"])).contains(&".config/settings.json"));
    assert!(paths(&excl(&["**/.*/**/*"])).contains(&".env"));
    assert_eq!(
        paths(&excl(&["**/*.so", "logs/**/*", "**/.*", ".config/*"])),
        ["README.md", "app.jar"]
    );
}

#[test]
fn exclude_paths_are_relative_to_base_directory_and_applied_before_flattening() {
    let t = guide_tree();
    let s = ArtifactSpec {
        base_directory: Some("my-build-2".into()),
        exclude_paths: vec!["my-subdirectory/**/*".into()],
        discard_paths: true,
        ..spec(&["**/*"])
    };
    assert_eq!(paths(&select(&t.root, &s).unwrap()), ["my-file-2.txt"]);
}
