//! The zone configuration, as `zonecfg -z ZONE export` prints it or as
//! `/etc/zones/ZONE.xml` stores it.
//!
//! Only what a rescue needs is interpreted (brand, `device` resources with
//! `storage`/`id`/`bootpri`, `keysource`, `suspend`); every other resource and
//! property is kept verbatim and otherwise ignored, never rejected.

use crate::error::{Error, Result};

/// One property value: a plain word/quoted string, or a parenthesised
/// complex value / bracketed list kept as its raw text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Property {
    /// Property name (`storage`, `id`, …).
    pub name: String,
    /// Value with quotes removed.
    pub value: String,
    /// 1-based line it was set on (0 for XML).
    pub line: usize,
}

/// An `add RESOURCE … end` block (or an XML child element of `<zone>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    /// Resource type (`device`, `anet`, `suspend`, `keysource`, …).
    pub kind: String,
    /// Its properties in order.
    pub props: Vec<Property>,
    /// 1-based line of the `add` (0 for XML).
    pub line: usize,
}

impl Resource {
    /// The value of property `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.props
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.value.as_str())
    }
}

/// A parsed zone configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ZoneConfig {
    /// Zone name: from the XML `name` attribute, or given by the caller for
    /// export text (which does not contain it).
    pub name: Option<String>,
    /// Global properties (`set brand=…`, `set autoboot=…`, …) in order.
    pub globals: Vec<Property>,
    /// Resources in order.
    pub resources: Vec<Resource>,
}

/// A `device` resource interpreted for a kernel zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// `storage` URI, possibly with `%{…}` template tokens.
    pub storage: Option<String>,
    /// Solaris 11.2 `match` path, when used instead of `storage`.
    pub match_path: Option<String>,
    /// `id`: the disk's instance in the guest (`c1d<id>`).
    pub id: Option<u32>,
    /// `bootpri`: present on boot devices.
    pub bootpri: Option<u32>,
    /// Line of the `add device` (0 for XML).
    pub line: usize,
}

/// The kernel-zone brand name.
pub const KERNEL_ZONE_BRAND: &str = "solaris-kz";

impl ZoneConfig {
    /// The value of global property `name`.
    pub fn global(&self, name: &str) -> Option<&str> {
        self.globals
            .iter()
            .rev()
            .find(|p| p.name == name)
            .map(|p| p.value.as_str())
    }

    /// The zone's brand (`solaris-kz` for kernel zones).
    pub fn brand(&self) -> Option<&str> {
        self.global("brand")
    }

    /// Whether this is a kernel zone.
    pub fn is_kernel_zone(&self) -> bool {
        self.brand() == Some(KERNEL_ZONE_BRAND)
    }

    /// Resources of one kind.
    pub fn resources_of<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Resource> + 'a {
        self.resources.iter().filter(move |r| r.kind == kind)
    }

    /// Every `device` resource, in configuration order.
    pub fn devices(&self) -> Result<Vec<Device>> {
        self.resources_of("device")
            .map(|r| {
                let num = |name: &str| -> Result<Option<u32>> {
                    match r.get(name) {
                        None => Ok(None),
                        Some(v) => v.parse::<u32>().map(Some).map_err(|_| {
                            let line = r
                                .props
                                .iter()
                                .find(|p| p.name == name)
                                .map_or(r.line, |p| p.line);
                            Error::Usage(format!(
                                "zone configuration line {line}: device {name}={v:?} is not a non-negative integer"
                            ))
                        }),
                    }
                };
                Ok(Device {
                    storage: r.get("storage").map(str::to_string),
                    match_path: r.get("match").map(str::to_string),
                    id: num("id")?,
                    bootpri: num("bootpri")?,
                    line: r.line,
                })
            })
            .collect()
    }

    /// Boot devices (those with `bootpri`), ordered by bootpri, then id.
    pub fn boot_devices(&self) -> Result<Vec<Device>> {
        let mut v: Vec<Device> = self
            .devices()?
            .into_iter()
            .filter(|d| d.bootpri.is_some())
            .collect();
        v.sort_by_key(|d| (d.bootpri, d.id));
        Ok(v)
    }
}

impl Device {
    /// The storage URI with the template tokens `%{zonename}`, `%{id}` and
    /// `%{global-rootzpool}` replaced. Fails naming the token that cannot be
    /// expanded.
    pub fn expanded_storage(
        &self,
        zonename: Option<&str>,
        global_rootzpool: &str,
    ) -> Result<String> {
        let s = self
            .storage
            .as_deref()
            .or(self.match_path.as_deref())
            .ok_or_else(|| {
                Error::Usage(format!(
                    "zone configuration line {}: device has neither storage nor match",
                    self.line
                ))
            })?;
        let mut out = String::with_capacity(s.len());
        let mut rest = s;
        while let Some(i) = rest.find("%{") {
            out.push_str(&rest[..i]);
            let after = &rest[i + 2..];
            let end = after.find('}').ok_or_else(|| {
                Error::Usage(format!(
                    "zone configuration line {}: unterminated template token in {s:?}",
                    self.line
                ))
            })?;
            let token = &after[..end];
            match token {
                "zonename" => out.push_str(zonename.ok_or_else(|| {
                    Error::Usage(format!(
                        "storage {s:?} uses %{{zonename}}: give the zone name (--zone)"
                    ))
                })?),
                "id" => match self.id {
                    Some(id) => out.push_str(&id.to_string()),
                    None => {
                        return Err(Error::Usage(format!(
                            "zone configuration line {}: storage uses %{{id}} but the device has no id",
                            self.line
                        )));
                    }
                },
                "global-rootzpool" => out.push_str(global_rootzpool),
                other => {
                    return Err(Error::Usage(format!(
                        "zone configuration line {}: unknown template token %{{{other}}} in {s:?}",
                        self.line
                    )));
                }
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

/// Splits one line of export text into commands at `;` and into words at
/// blanks, both outside quotes and brackets. Double quotes are removed from
/// plain values; inside `(…)` / `[…]` (complex values, lists) everything is
/// kept verbatim.
fn split_commands(line: &str, lineno: usize) -> Result<Vec<Vec<String>>> {
    let err = |msg: &str| Error::Usage(format!("zone configuration line {lineno}: {msg}"));
    let mut cmds = Vec::new();
    let mut words: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quoted = false;
    let mut depth = 0usize;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' => {
                    quoted = false;
                    if depth > 0 {
                        cur.push('"');
                    }
                }
                '\\' => match chars.next() {
                    Some(n) => {
                        if depth > 0 {
                            cur.push('\\');
                        }
                        cur.push(n)
                    }
                    None => return Err(err("backslash at end of line")),
                },
                _ => cur.push(c),
            }
            continue;
        }
        match c {
            '"' => {
                quoted = true;
                in_word = true;
                if depth > 0 {
                    cur.push('"');
                }
            }
            '#' if !in_word && depth == 0 => break,
            '(' | '[' => {
                depth += 1;
                in_word = true;
                cur.push(c);
            }
            ')' | ']' => {
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| err(&format!("unbalanced {c:?}")))?;
                cur.push(c);
            }
            ';' if depth == 0 => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
                if !words.is_empty() {
                    cmds.push(std::mem::take(&mut words));
                }
            }
            c if c.is_whitespace() && depth == 0 => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            _ => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if quoted {
        return Err(err("unterminated quote"));
    }
    if depth != 0 {
        return Err(err("unbalanced parenthesis or bracket"));
    }
    if in_word {
        words.push(cur);
    }
    if !words.is_empty() {
        cmds.push(words);
    }
    Ok(cmds)
}

/// Parses the text of `zonecfg -z ZONE export`.
///
/// `name` is the zone name when the caller knows it (the export does not
/// contain it). Errors name the line.
pub fn parse_export(text: &str, name: Option<&str>) -> Result<ZoneConfig> {
    let mut cfg = ZoneConfig {
        name: name.map(str::to_string),
        ..Default::default()
    };
    let mut open: Option<Resource> = None;
    let err = |lineno: usize, msg: String| {
        Error::Usage(format!("zone configuration line {lineno}: {msg}"))
    };
    for (i, line) in text.lines().enumerate() {
        let lineno = i + 1;
        for words in split_commands(line, lineno)? {
            let verb = words[0].as_str();
            match verb {
                "create" => {
                    if !cfg.resources.is_empty() || !cfg.globals.is_empty() || open.is_some() {
                        return Err(err(lineno, "`create` after other commands".into()));
                    }
                    // `create -b` (blank) or `create -t TEMPLATE`: the template
                    // name is recorded as a pseudo-property.
                    if let Some(pos) = words.iter().position(|w| w == "-t") {
                        let t = words
                            .get(pos + 1)
                            .ok_or_else(|| err(lineno, "`create -t` without a template".into()))?;
                        cfg.globals.push(Property {
                            name: "template".into(),
                            value: t.clone(),
                            line: lineno,
                        });
                    }
                }
                "set" => {
                    let rest = words[1..].join(" ");
                    let (k, v) = rest
                        .split_once('=')
                        .ok_or_else(|| err(lineno, format!("`set` without `=`: {rest:?}")))?;
                    let prop = Property {
                        name: k.trim().to_string(),
                        value: v.trim().to_string(),
                        line: lineno,
                    };
                    if prop.name.is_empty() {
                        return Err(err(lineno, "`set` without a property name".into()));
                    }
                    match open.as_mut() {
                        Some(r) => r.props.push(prop),
                        None => cfg.globals.push(prop),
                    }
                }
                "add" => {
                    let kind = words
                        .get(1)
                        .ok_or_else(|| err(lineno, "`add` without a resource type".into()))?;
                    match open.as_mut() {
                        // `add PROPERTY VALUE` inside a resource adds a list
                        // element (e.g. `add options [ro]`).
                        Some(r) => {
                            let value = words[2..].join(" ");
                            r.props.push(Property {
                                name: kind.clone(),
                                value,
                                line: lineno,
                            })
                        }
                        None => {
                            open = Some(Resource {
                                kind: kind.clone(),
                                props: Vec::new(),
                                line: lineno,
                            })
                        }
                    }
                }
                "end" => {
                    let r = open
                        .take()
                        .ok_or_else(|| err(lineno, "`end` without `add`".into()))?;
                    cfg.resources.push(r);
                }
                "select" | "remove" | "clear" | "cancel" | "commit" | "verify" | "exit" => {
                    // Not produced by `export` except `commit`/`exit`; accepted
                    // where harmless, refused where they would change meaning.
                    match verb {
                        "commit" | "verify" | "exit" => {}
                        _ => {
                            return Err(err(
                                lineno,
                                format!(
                                    "`{verb}` is not part of an export; give the output of `zonecfg -z ZONE export`"
                                ),
                            ));
                        }
                    }
                }
                other => return Err(err(lineno, format!("unknown command `{other}`"))),
            }
        }
    }
    if let Some(r) = open {
        return Err(err(
            r.line,
            format!("`add {}` is never closed with `end`", r.kind),
        ));
    }
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A kernel-zone export in the shape Oracle's own tests use.
    const EXPORT: &str = r#"create -b
set brand=solaris-kz
set autoboot=true
set autoshutdown=shutdown
set bootargs="kz=d -k -m verbose"
add anet
set lower-link=auto
set link-protection=mac-nospoof
set mac-address=auto
set id=0
end
add device
set storage=dev:/dev/zvol/dsk/%{global-rootzpool}/VARSHARE/zones/%{zonename}/disk%{id}
set bootpri=0
set id=0
end
# a second boot disk makes a mirrored root pool
add device
set storage=iscsi://zfssa/luname.naa.600144F0DBF8AF19000052E820D60003
set bootpri=0
set id=1
end
add device; set storage=dev:dsk/c0t1d0; set id=12; end
add capped-memory
set physical=4G
end
add suspend
set path=/system/zones/%{zonename}/suspend
end
add fs
set dir=/data
add options [ro,nodevices]
end
add attr
set name=comment
set type=string
set value="a \"quoted\" word; and a semicolon"
end
"#;

    #[test]
    fn export_text_boot_devices_and_templates() {
        let cfg = parse_export(EXPORT, Some("kz1")).unwrap();
        assert!(cfg.is_kernel_zone());
        assert_eq!(cfg.global("bootargs"), Some("kz=d -k -m verbose"));
        let devs = cfg.devices().unwrap();
        assert_eq!(devs.len(), 3);
        let boot = cfg.boot_devices().unwrap();
        assert_eq!(
            boot.iter().map(|d| d.id).collect::<Vec<_>>(),
            vec![Some(0), Some(1)]
        );
        assert_eq!(
            boot[0].expanded_storage(Some("kz1"), "rpool").unwrap(),
            "dev:/dev/zvol/dsk/rpool/VARSHARE/zones/kz1/disk0"
        );
        assert_eq!(devs[2].id, Some(12));
        assert_eq!(devs[2].bootpri, None);
        let fs = cfg.resources_of("fs").next().unwrap();
        assert_eq!(fs.get("options"), Some("[ro,nodevices]"));
        let attr = cfg.resources_of("attr").next().unwrap();
        assert_eq!(
            attr.get("value"),
            Some("a \"quoted\" word; and a semicolon")
        );
        assert_eq!(cfg.resources_of("suspend").next().unwrap().line, 27);
    }

    #[test]
    fn boot_order_is_bootpri_then_id() {
        let text = "create -b\nset brand=solaris-kz\nadd device\nset storage=dev:dsk/c0t2d0\nset bootpri=1\nset id=0\nend\nadd device\nset storage=dev:dsk/c0t3d0\nset bootpri=0\nset id=5\nend\nadd device\nset storage=dev:dsk/c0t4d0\nset bootpri=0\nset id=2\nend\n";
        let cfg = parse_export(text, None).unwrap();
        let ids: Vec<_> = cfg
            .boot_devices()
            .unwrap()
            .iter()
            .map(|d| d.id.unwrap())
            .collect();
        assert_eq!(ids, vec![2, 5, 0]);
    }

    #[test]
    fn errors_name_the_line() {
        for (text, line) in [
            ("create -b\nadd device\nset id=0\n", "line 2"),
            ("create -b\nend\n", "line 2"),
            ("create -b\nset brand\n", "line 2"),
            ("create -b\nfrobnicate\n", "line 2"),
            ("create -b\nset bootargs=\"open\n", "line 2"),
            ("create -b\nadd device\nset id=x\nend\n", "line 3"),
        ] {
            let e = parse_export(text, None)
                .and_then(|c| c.devices().map(|_| ()))
                .unwrap_err()
                .to_string();
            assert!(e.contains(line), "{text:?} → {e}");
        }
    }

    #[test]
    fn template_tokens_that_cannot_expand_are_errors() {
        let d = Device {
            storage: Some("dev:zvol/dsk/%{global-rootzpool}/%{zonename}/disk%{id}".into()),
            match_path: None,
            id: None,
            bootpri: Some(0),
            line: 4,
        };
        assert!(
            d.expanded_storage(Some("z"), "rpool")
                .unwrap_err()
                .to_string()
                .contains("no id")
        );
        assert!(d.expanded_storage(None, "rpool").is_err());
        let bad = Device {
            storage: Some("x%{nope}".into()),
            ..d.clone()
        };
        assert!(
            bad.expanded_storage(Some("z"), "r")
                .unwrap_err()
                .to_string()
                .contains("nope")
        );
    }

    #[test]
    fn xml_zone_file() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE zone PUBLIC "-//Sun Microsystems Inc//DTD Zones//EN" "file:///usr/share/lib/xml/dtd/zonecfg.dtd.1">
<zone name="kernel-zone" brand="solaris-kz" hostid="0x65fd0d61" autoboot="false" ip-type="exclusive">
  <mcap physcap="4294967296" pagesize-policy="largest-available"/>
  <automatic-network id="0" mac-address="auto" lower-link="auto"/>
  <device storage="dev:/dev/zvol/dsk/%{global-rootzpool}/VARSHARE/zones/%{zonename}/disk%{id}" allow-partition="false" bootpri="0" id="0"/>
  <device storage="dev:dsk/c0t5d0" id="3"/>
</zone>"#;
        let cfg = crate::zone::parse_config(xml, None).unwrap();
        assert_eq!(cfg.name.as_deref(), Some("kernel-zone"));
        assert!(cfg.is_kernel_zone());
        let boot = cfg.boot_devices().unwrap();
        assert_eq!(boot.len(), 1);
        assert_eq!(
            boot[0]
                .expanded_storage(cfg.name.as_deref(), "rpool")
                .unwrap(),
            "dev:/dev/zvol/dsk/rpool/VARSHARE/zones/kernel-zone/disk0"
        );
        assert!(crate::zone::parse_config("<zone brand='x'><a></zone>", None).is_err());
        assert!(crate::zone::parse_config("<notzone/>", None).is_err());
    }

    #[test]
    fn other_brands_are_reported_not_rejected() {
        let cfg = parse_export(
            "create -b\nset brand=solaris\nset zonepath=/zones/z\n",
            None,
        )
        .unwrap();
        assert_eq!(cfg.brand(), Some("solaris"));
        assert!(!cfg.is_kernel_zone());
    }
}
