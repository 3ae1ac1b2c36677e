use super::*;

fn scalar_at(root: &Node, key: &str) -> Node {
    let NodeKind::Map(entries) = &root.kind else { panic!("not a map") };
    entries.iter().find(|(k, _)| k.as_scalar() == Some(key)).map(|(_, v)| v.clone()).expect("key")
}

/// A 1 MiB scalar anchored as `&a` on line 1, then `refs` aliases to it in a flow list on line 2
/// (the first at column 9).
fn big_anchor(refs: usize) -> String {
    let aliases = vec!["*a"; refs].join(", ");
    format!("big: &a \"{}\"\nmany: [{aliases}]\n", "s3cret".repeat((1 << 20) / 6))
}

#[test]
fn positions_are_one_based_and_byte_accurate() {
    let src = "a: 1\nbé: |\n  x\nc: [1, 2]\n";
    let root = parse(src).unwrap().unwrap();
    let c = scalar_at(&root, "c");
    assert_eq!((c.span.line, c.span.col), (4, 4));
    assert_eq!(&src[c.span.offset..c.span.offset + 1], "[");
}

#[test]
fn aliases_and_merge_keys_expand() {
    let root = parse("base: &b {x: 1, y: 2}\nderived:\n  <<: *b\n  y: 3\n").unwrap().unwrap();
    let d = scalar_at(&root, "derived");
    assert_eq!(scalar_at(&d, "x").as_scalar(), Some("1"));
    assert_eq!(scalar_at(&d, "y").as_scalar(), Some("3"));
}

#[test]
fn duplicate_keys_are_kept_for_the_caller() {
    let root = parse("k: a\nk: b\n").unwrap().unwrap();
    let NodeKind::Map(entries) = &root.kind else { panic!() };
    assert_eq!(entries.len(), 2);
}

#[test]
fn billion_laughs_is_refused() {
    let mut src = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..12 {
        let p = i - 1;
        src.push_str(&format!("a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"));
    }
    let err = parse(&src).unwrap_err();
    assert_eq!((err.code(), &err.kind), ("E0003", &ErrorKind::TooManyNodes));
    assert_eq!(check(&src).unwrap_err(), err);
}

#[test]
fn the_text_budget_scales_with_the_file_within_bounds() {
    assert_eq!(text_budget(0), 16 << 20);
    assert_eq!(text_budget(2 << 20), 32 << 20);
    assert_eq!(text_budget(1 << 30), 128 << 20);
    assert_eq!(human_bytes(16 << 20), "16 MiB");
    assert_eq!(human_bytes(3 << 19), "1.5 MiB");
    assert_eq!(human_bytes(2048), "2.0 KiB");
    assert_eq!(human_bytes(12), "12 bytes");
}

#[test]
fn the_alias_that_crosses_the_budget_is_named_with_its_anchor() {
    let src = big_anchor(6000);
    for err in [parse(&src).unwrap_err(), check(&src).unwrap_err()] {
        let ErrorKind::AliasTooMuchText { budget, source_len, anchor, anchor_bytes, before } = err.kind else { panic!("{err:?}") };
        assert_eq!((budget, source_len), (text_budget(src.len()), src.len()));
        assert_eq!(human_bytes(budget), "16.4 MiB");
        assert_eq!((anchor.line, anchor.col), (1, 9));
        assert_eq!(anchor_bytes, (1 << 20) / 6 * 6);
        assert!(before <= budget && before + anchor_bytes > budget);
        assert_eq!(err.span.line, 2);
        assert_eq!(&src[err.span.offset..err.span.offset + 2], "*a");
        assert_eq!(err.code(), "E0003");
        let shown = err.to_string();
        assert!(shown.starts_with("aliases expand the document to more than 16.4 MiB of text; the alias repeats the value anchored at line 1, column 9"), "{shown}");
        assert!(shown.ends_with("; help: reference the anchor fewer times or make it smaller (or write the values out); kiln refuses the file before expanding it"), "{shown}");
        assert!(!shown.contains("s3cret") && !format!("{err:?}").contains("s3cret"), "no value: {shown}");
    }
}

#[test]
fn anchor_copies_count_against_the_text_budget() {
    // No alias at all, but 40 nested anchors each keep a copy of the 1 MiB scalar inside.
    let mut src = String::new();
    for i in 0..40 {
        src.push_str(&format!("{}- &a{i}\n", "  ".repeat(i)));
    }
    src.push_str(&format!("{}- \"{}\"\n", "  ".repeat(40), "z".repeat(1 << 20)));
    let err = parse(&src).unwrap_err();
    assert!(matches!(err.kind, ErrorKind::TooMuchText { .. }), "{err:?}");
    assert_eq!(err.label(), Some("the limit is crossed here"));
    assert_eq!(check(&src).unwrap_err(), err, "check counts the same copies");
}

#[test]
fn check_accepts_what_parse_accepts() {
    for src in ["", "# c\n", "a: 1\n", "base: &b {x: 1}\nd:\n  <<: *b\n", "\u{feff}a: [1, 2]\n", &big_anchor(3), "k: a\nk: b\n"] {
        assert_eq!(check(src), parse(src).map(|_| ()), "{src:.40}");
        assert!(check(src).is_ok());
    }
    for src in ["a: [1\n", "a: *nowhere\n", "a:\n  - b\n - c\n"] {
        assert_eq!(check(src).unwrap_err(), parse(src).unwrap_err(), "{src}");
    }
}

#[test]
fn syntax_errors_are_located_and_quote_nothing() {
    let err = parse("phases:\n  build:\n    commands:\n      - \"unterminated hunter2\n").unwrap_err();
    assert_eq!(err.code(), "E0001");
    assert!(err.span.line >= 4);
    assert_eq!(err.label(), Some("YAML syntax error here"));
    assert!(!err.to_string().contains("hunter2"), "{err}");
}

#[test]
fn a_byte_order_mark_is_skipped() {
    let root = parse("\u{feff}a: 1\n").unwrap().unwrap();
    let NodeKind::Map(entries) = &root.kind else { panic!() };
    assert_eq!(entries[0].0.as_scalar(), Some("a"));
    assert_eq!((entries[0].0.span.offset, entries[0].0.span.line, entries[0].0.span.col), (3, 1, 1));
}

#[test]
fn empty_document_is_none() {
    assert_eq!(parse("").unwrap(), None);
    assert_eq!(parse("# only a comment\n").unwrap(), None);
}

/// Every node's byte offset is its line and column's, however the markers came.
fn assert_offsets(src: &str, node: &Node) {
    let line_start: usize = src.split_inclusive('\n').take(node.span.line as usize - 1).map(str::len).sum();
    let skip = if node.span.line == 1 && src.starts_with(BOM) { BOM.len() } else { 0 };
    let col: usize = src[line_start + skip..].chars().take(node.span.col as usize - 1).map(char::len_utf8).sum();
    assert_eq!(node.span.offset, line_start + skip + col, "{:?} in {src:?}", node.span);
    match &node.kind {
        NodeKind::Scalar { .. } => {}
        NodeKind::Seq(items) => items.iter().for_each(|n| assert_offsets(src, n)),
        NodeKind::Map(entries) => entries.iter().for_each(|(k, v)| {
            assert_offsets(src, k);
            assert_offsets(src, v);
        }),
    }
}

#[test]
fn offsets_are_right_on_long_lines_with_wide_characters() {
    let src = "\u{feff}é: [ü, &x ñ, {k: 日本, ß: [*x, \"ö\"]}, 'é', x]\nb:\n  - {ä: *x, c: [1, é, 2]}\n  - é\n";
    let root = parse(src).unwrap().unwrap();
    assert_offsets(src, &root);
}

#[test]
fn a_long_one_line_list_is_read_in_linear_time() {
    // 40,000 items on one 80 KB line. Converting each marker from the line's start made this
    // quadratic: 72 s in a debug build (parse and check), where it now takes milliseconds.
    let src = format!("k: [{}]\n", vec!["é"; 40_000].join(","));
    let started = std::time::Instant::now();
    let root = parse(&src).unwrap().unwrap();
    check(&src).unwrap();
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "{:?}", started.elapsed());
    let NodeKind::Map(entries) = &root.kind else { panic!() };
    let NodeKind::Seq(items) = &entries[0].1.kind else { panic!() };
    let last = items.last().unwrap();
    assert_eq!((last.span.line as usize, last.span.col as usize, last.span.offset), (1, 5 + 2 * 39_999, 4 + 3 * 39_999));
}

/// CloudFormation's short forms (`!Ref`, `!GetAtt`, `!Sub`, `!If` …) reach the tree as local
/// tags on scalars, lists and mappings, with the tagged node's position; kiln-pipeline evaluates
/// them. Tags count against the text budget like scalars.
#[test]
fn local_tags_are_kept_on_every_kind_of_node() {
    let src = "a: !Ref Param\nb: !GetAtt [Res, Arn]\nc: !Sub\n  - ${x}\n  - {x: 1}\nd: !If [Cond, !Ref A, !Ref AWS::NoValue]\ne: !Base64 {\"Fn::Sub\": y}\nf: plain\ng: !!str 1\n";
    let root = parse(src).unwrap().unwrap();
    let NodeKind::Map(entries) = &root.kind else { panic!() };
    let tag = |i: usize| entries[i].1.tag.as_deref();
    assert_eq!(tag(0), Some("!Ref"));
    assert_eq!(entries[0].1.as_scalar(), Some("Param"));
    // The span is the tagged value's (after the tag), as yaml-rust2 marks the event.
    assert_eq!((entries[0].1.span.line, entries[0].1.span.col), (1, 9));
    assert_eq!(tag(1), Some("!GetAtt"));
    assert!(matches!(entries[1].1.kind, NodeKind::Seq(_)));
    assert_eq!(tag(2), Some("!Sub"));
    assert_eq!(entries[2].1.span.line, 4);
    assert_eq!(tag(3), Some("!If"));
    let NodeKind::Seq(items) = &entries[3].1.kind else { panic!() };
    assert_eq!(items[1].tag.as_deref(), Some("!Ref"));
    assert_eq!(items[2].as_scalar(), Some("AWS::NoValue"));
    assert_eq!(tag(4), Some("!Base64"));
    assert!(matches!(entries[4].1.kind, NodeKind::Map(_)));
    assert_eq!(tag(5), None);
    // A standard tag is not a local one: it comes back with its full handle.
    assert!(tag(6).is_some_and(|t| t != "!str" && t.ends_with("str")), "{:?}", tag(6));
}

#[test]
fn tags_count_against_the_text_budget() {
    // A 64-byte tag on each of 300,000 empty scalars: ~19 MiB of tag text from a ~20 MiB file
    // would pass; the same tags repeated through aliases would not.
    let tag = format!("!{}", "T".repeat(63));
    let mut src = format!("a: &a [{}]\n", vec![format!("{tag} ''"); 20_000].join(","));
    src.push_str(&format!("b: [{}]\n", vec!["*a"; 40].join(",")));
    let err = parse(&src).unwrap_err();
    assert_eq!(err.code(), "E0003");
}
