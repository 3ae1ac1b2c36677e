use super::*;
use crate::input::{Input, Kind};

fn limits(text: usize, markup: usize) -> Limits {
    Limits { xml_text: text, xml_markup: markup, ..Limits::default() }
}

type Notes = Vec<(Option<Pos>, String)>;

/// Every event's kind and text, until the end or a fatal error.
fn events(xml: &[u8], limits: &Limits) -> (Vec<String>, Option<Fatal>, Notes) {
    let input = Input::new(xml, Kind::Xml, None).unwrap();
    let mut x = Xml::new(input, limits);
    let mut out = Vec::new();
    let fatal = loop {
        match x.next() {
            Ok(Ev::Eof) => break None,
            Ok(Ev::Start) => {
                let n = x.name().to_string();
                out.push(format!("<{n}>"));
            }
            Ok(Ev::Empty) => {
                let n = x.name().to_string();
                out.push(format!("<{n}/>"));
            }
            Ok(Ev::End) => out.push("</>".into()),
            Ok(Ev::Text(t)) => out.push(t.into_owned()),
            Ok(Ev::Other) => {}
            Err(f) => break Some(f),
        }
    };
    let notes = x.take_notes();
    (out, fatal, notes)
}

#[test]
fn long_text_is_cut_at_a_char_boundary_and_the_rest_read() {
    let body = "é".repeat(100);
    let xml = format!("<a>{body}</a><b/>");
    let (ev, fatal, notes) = events(xml.as_bytes(), &limits(65, 1 << 20));
    assert!(fatal.is_none(), "{fatal:?}");
    // 65 bytes of 2-byte characters: 32 characters kept.
    assert_eq!(ev, ["<a>", &"é".repeat(32), "</>", "<b/>"]);
    assert!(notes[0].1.contains("cut"), "{notes:?}");
    assert_eq!(notes[0].0.map(|p| p.line), Some(1));
}

#[test]
fn long_cdata_is_cut_and_still_terminates() {
    for tail in ["]]>", "x]]>", "]]]>", "]]]]>"] {
        let body = format!("{}{}", "z".repeat(500), "]".repeat(3));
        let xml = format!("<a><![CDATA[{body}{tail}</a>");
        let (ev, fatal, notes) = events(xml.as_bytes(), &limits(64, 1 << 20));
        assert!(fatal.is_none(), "{tail}: {fatal:?}");
        assert_eq!(ev.len(), 3, "{tail}: {ev:?}");
        assert!(ev[1].starts_with("zzzz") && ev[1].len() <= 64, "{tail}: {ev:?}");
        assert_eq!(notes.len(), 1);
    }
    // A `]]` just before the cut does not end the section early.
    let xml = format!("<a><![CDATA[{}]]{}]]></a><b/>", "y".repeat(60), "q".repeat(100));
    let (ev, fatal, _) = events(xml.as_bytes(), &limits(64, 1 << 20));
    assert!(fatal.is_none(), "{fatal:?}");
    assert_eq!(ev.last().unwrap(), "<b/>");
}

#[test]
fn huge_markup_is_a_located_error() {
    let xml = format!("<a>\n  <b time=\"{}\"/></a>", "9".repeat(5000));
    let (_, fatal, _) = events(xml.as_bytes(), &limits(64, 1024));
    let f = fatal.expect("too large");
    assert_eq!(f.pos.map(|p| (p.line, p.column)), Some((2, 3)));
    assert!(f.message.contains("longer than"), "{}", f.message);
}

#[test]
fn positions_count_lines_and_columns() {
    let xml = b"<a>\r\n  <b>\n\t<c/>\n</b></a>";
    let input = Input::new(&xml[..], Kind::Xml, None).unwrap();
    let mut x = Xml::new(input, &Limits::default());
    let mut seen = Vec::new();
    loop {
        match x.next().unwrap() {
            Ev::Eof => break,
            Ev::Start | Ev::Empty => {
                let p = x.pos();
                seen.push((x.name().to_string(), p.line, p.column));
            }
            _ => {}
        }
    }
    assert_eq!(seen, [("a".to_string(), 1, 1), ("b".into(), 2, 3), ("c".into(), 3, 2)]);
}

#[test]
fn errors_name_the_problem_and_place() {
    let (_, fatal, _) = events(b"<a>\n<b></c></a>", &Limits::default());
    let f = fatal.unwrap();
    assert_eq!(f.pos.map(|p| p.line), Some(2));
    assert!(f.message.contains("not well-formed"), "{}", f.message);
    let (_, fatal, _) = events(b"<a>\n  <b>text", &Limits::default());
    assert!(fatal.unwrap().message.contains("ends inside <b> (opened at line 2, column 3)"));
}

#[test]
fn entities_are_never_expanded() {
    let xml = b"<!DOCTYPE a [<!ENTITY x \"boom\">]><a t=\"&x;&amp;\">&x;&#65;&lt;</a>";
    let (ev, fatal, notes) = events(xml, &Limits::default());
    assert!(fatal.is_none());
    assert_eq!(ev, ["<a>", "&x;", "A", "<", "</>"]);
    assert_eq!(notes.len(), 2, "{notes:?}");
    assert!(notes.iter().any(|n| n.1.contains("DOCTYPE declares entities")));
    assert_eq!(unescape(Cow::Borrowed("&x;&amp;&#x41;&#999999999;& &;")), "&x;&A&#999999999;& &;");
}
