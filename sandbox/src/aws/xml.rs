//! Just enough XML for Route 53 and the awsQuery protocols: a tiny tree reader for
//! request bodies and an escaping writer for responses.

use quick_xml::Reader;
use quick_xml::events::Event;

/// One element of a parsed request body: its local name, children and text.
#[derive(Debug, Default, Clone)]
pub struct Element {
    pub name: String,
    pub children: Vec<Element>,
    pub text: String,
}

impl Element {
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The trimmed text of a direct child, if present.
    pub fn text_of(&self, name: &str) -> Option<String> {
        self.child(name).map(|c| c.text.trim().to_string())
    }
}

/// Parses a whole document into its root element, or explains why it is not XML.
pub fn parse(body: &[u8]) -> Result<Element, String> {
    let text = std::str::from_utf8(body).map_err(|_| "request body is not UTF-8".to_string())?;
    let mut reader = Reader::from_str(text);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => {
                if root.is_some() {
                    return Err("content after the root element".into());
                }
                let name = e.local_name().as_ref().to_string();
                if stack.len() > 64 {
                    return Err("document nested too deeply".into());
                }
                stack.push(Element {
                    name,
                    ..Default::default()
                });
            }
            Ok(Event::Empty(e)) => {
                let el = Element {
                    name: e.local_name().as_ref().to_string(),
                    ..Default::default()
                };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None if root.is_none() => root = Some(el),
                    None => return Err("content after the root element".into()),
                }
            }
            Ok(Event::End(_)) => {
                let el = stack.pop().ok_or("unbalanced end tag")?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => root = Some(el),
                }
            }
            Ok(Event::Text(t)) => {
                if let Some(cur) = stack.last_mut() {
                    cur.text.push_str(&t.xml10_content());
                } else if !t.trim().is_empty() {
                    return Err("text outside the root element".into());
                }
            }
            Ok(Event::GeneralRef(r)) => {
                if let Some(cur) = stack.last_mut() {
                    let c = match r.resolve_char_ref().map_err(|e| e.to_string())? {
                        Some(c) => c,
                        None => match &*r {
                            "amp" => '&',
                            "lt" => '<',
                            "gt" => '>',
                            "quot" => '"',
                            "apos" => '\'',
                            other => return Err(format!("unknown entity &{other};")),
                        },
                    };
                    cur.text.push(c);
                }
            }
            Ok(Event::CData(t)) => {
                if let Some(cur) = stack.last_mut() {
                    cur.text.push_str(&t);
                }
            }
            Ok(Event::Eof) => break,
            Ok(Event::DocType(_)) => return Err("DOCTYPE is not allowed".into()),
            Ok(_) => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    if !stack.is_empty() {
        return Err("unexpected end of document".into());
    }
    root.ok_or_else(|| "empty document".to_string())
}

/// Builds a response document; element text is escaped.
#[derive(Default)]
pub struct Writer {
    out: String,
}

impl Writer {
    pub fn new() -> Self {
        Self {
            out: String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"),
        }
    }

    pub fn open_ns(&mut self, tag: &str, ns: &str) -> &mut Self {
        self.out.push_str(&format!("<{tag} xmlns=\"{ns}\">"));
        self
    }

    pub fn open(&mut self, tag: &str) -> &mut Self {
        self.out.push('<');
        self.out.push_str(tag);
        self.out.push('>');
        self
    }

    pub fn close(&mut self, tag: &str) -> &mut Self {
        self.out.push_str("</");
        self.out.push_str(tag);
        self.out.push('>');
        self
    }

    pub fn leaf(&mut self, tag: &str, text: impl std::fmt::Display) -> &mut Self {
        let text = text.to_string();
        self.open(tag);
        self.out.push_str(&quick_xml::escape::escape(text.as_str()));
        self.close(tag)
    }

    pub fn opt_leaf<T: std::fmt::Display>(&mut self, tag: &str, text: Option<T>) -> &mut Self {
        if let Some(t) = text {
            self.leaf(tag, t);
        }
        self
    }

    pub fn finish(self) -> String {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nested_elements_and_entities() {
        let root = parse(br#"<?xml version="1.0"?><a xmlns="x"><b>1 &amp; 2</b><c/><b>3</b></a>"#)
            .unwrap();
        assert_eq!(root.name, "a");
        assert_eq!(root.text_of("b").as_deref(), Some("1 & 2"));
        assert_eq!(root.children_named("b").count(), 2);
        assert!(root.child("c").is_some());
    }

    #[test]
    fn rejects_broken_documents() {
        for bad in [&b"<a><b></a>"[..], b"<a>", b"", b"not xml", b"<a/><b/>"] {
            assert!(parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}
