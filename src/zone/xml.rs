//! `/etc/zones/ZONE.xml`: the zone configuration as libzonecfg stores it.
//!
//! `<zone name=… brand=… …>` carries the global properties as attributes;
//! each child element is a resource whose attributes are its properties
//! (Oracle's kernel-zone `<device storage=… id=… bootpri=…/>`). Nested
//! elements (e.g. `<net-address>`) are kept as resources of their own kind.

use super::zonecfg::{Property, Resource, ZoneConfig};
use crate::error::{Error, Result};
use quick_xml::events::{BytesStart, Event};

/// A parser error as one line: quick-xml quotes the offending input, which may
/// hold newlines or control characters (found by the zone_xml fuzz target).
fn one_line(e: impl std::fmt::Display) -> String {
    e.to_string()
        .chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

fn attrs(e: &BytesStart<'_>, pos: u64) -> Result<Vec<Property>> {
    let mut out = Vec::new();
    for a in e.attributes() {
        let a = a.map_err(|err| Error::corrupt("zone XML attribute", pos, one_line(err)))?;
        let name = a.key.as_ref().to_string();
        let value = a
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|err| Error::corrupt("zone XML attribute", pos, one_line(err)))?
            .into_owned();
        out.push(Property {
            name,
            value,
            line: 0,
        });
    }
    Ok(out)
}

/// Parses a zone XML document.
pub fn parse_xml(text: &str) -> Result<ZoneConfig> {
    let mut reader = quick_xml::Reader::from_str(text);
    let mut cfg = ZoneConfig::default();
    let mut depth = 0usize;
    let mut seen_zone = false;
    loop {
        let pos = reader.buffer_position();
        let ev = reader
            .read_event()
            .map_err(|e| Error::corrupt("zone XML", pos, one_line(e)))?;
        match ev {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let is_empty = matches!(ev, Event::Empty(_));
                let name = e.name().as_ref().to_string();
                if depth == 0 {
                    if name != "zone" {
                        return Err(Error::corrupt(
                            "zone XML",
                            pos,
                            format!("root element is <{}>, expected <zone>", one_line(&name)),
                        ));
                    }
                    seen_zone = true;
                    for p in attrs(e, pos)? {
                        if p.name == "name" {
                            cfg.name = Some(p.value.clone());
                        }
                        cfg.globals.push(p);
                    }
                } else {
                    cfg.resources.push(Resource {
                        kind: name,
                        props: attrs(e, pos)?,
                        line: 0,
                    });
                }
                if !is_empty {
                    depth += 1;
                    if depth > 16 {
                        return Err(Error::corrupt("zone XML", pos, "nesting deeper than 16"));
                    }
                }
            }
            Event::End(_) => depth = depth.saturating_sub(1),
            Event::Eof => break,
            _ => {}
        }
    }
    if !seen_zone {
        // Found missing at the end of the document: report where it ended.
        return Err(Error::corrupt(
            "zone XML",
            text.len() as u64,
            "no <zone> element",
        ));
    }
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_without_a_zone_is_placed_at_its_end() {
        let text = "<?xml version=\"1.0\"?>\n";
        let e = parse_xml(text).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::Corrupt, "{e}");
        assert_eq!(e.offset(), Some(text.len() as u64), "{e}");
        let e = parse_xml("<zonepath/>").unwrap_err();
        assert_eq!((e.structure(), e.offset()), (Some("zone XML"), Some(0)));
    }
}
