//! The public surface of one assembly, read from its metadata: identity, visible types (and the
//! types it forwards) and their public and protected members, each as a full C#-like signature.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use sha1::{Digest, Sha1};

use super::metadata::{Blob, Coded, Metadata, ReadError, Result, RowRef, Table};

/// An assembly's public surface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssemblySurface {
    /// The simple name (`System.Linq`).
    pub name: String,
    /// `Name, Version=…, Culture=…, PublicKeyToken=…`.
    pub identity: String,
    /// Visible and forwarded types by full name (`Namespace.Outer+Inner`).
    pub types: BTreeMap<String, TypeSurface>,
}

/// One visible type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TypeSurface {
    /// The declaration (`public sealed class X<T> : Base, IFoo where T : struct`), with the
    /// attributes that change behaviour for callers; for a forwarded type, `forwarded`.
    pub declaration: String,
    /// True when the assembly only forwards this type to another assembly.
    pub forwarded: bool,
    /// Members by identity (name plus parameter types), each with its declaration.
    pub members: BTreeMap<String, Member>,
}

/// One public or protected member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// The member's simple name, to pair a removed and an added overload into one change.
    pub name: String,
    /// The full declaration.
    pub declaration: String,
}

// Type attribute bits (II.23.1.15).
const VISIBILITY_MASK: u32 = 0x7;
const INTERFACE: u32 = 0x20;
const ABSTRACT: u32 = 0x80;
const SEALED: u32 = 0x100;
// Field and method access (II.23.1.5, II.23.1.10).
const ACCESS_MASK: u16 = 0x7;
const FAMILY: u16 = 4;
const FAM_OR_ASSEM: u16 = 5;
const PUBLIC: u16 = 6;
const STATIC: u16 = 0x10;
const FIELD_INIT_ONLY: u16 = 0x20;
const FIELD_LITERAL: u16 = 0x40;
const METHOD_FINAL: u16 = 0x20;
const METHOD_VIRTUAL: u16 = 0x40;
const METHOD_NEW_SLOT: u16 = 0x100;
const METHOD_ABSTRACT: u16 = 0x400;
// Param attributes (II.23.1.13).
const PARAM_IN: u16 = 0x1;
const PARAM_OUT: u16 = 0x2;
const PARAM_HAS_DEFAULT: u16 = 0x1000;
// ExportedType flag for a type forwarder (II.23.1.15).
const FORWARDER: u32 = 0x0020_0000;
// MethodSemantics (II.23.1.12).
const SEM_SETTER: u16 = 0x1;
const SEM_GETTER: u16 = 0x2;
const SEM_ADD_ON: u16 = 0x8;
const SEM_REMOVE_ON: u16 = 0x10;

/// Nesting limit for signatures: deeper is damaged input (or an attack), not a real type.
const MAX_DEPTH: usize = 48;

/// Generic parameter names in scope while rendering a signature.
#[derive(Default, Clone)]
struct Generics {
    of_type: Vec<String>,
    of_method: Vec<String>,
}

/// Reads the public surface of an assembly from its metadata.
pub fn read(md: &Metadata) -> Result<AssemblySurface> {
    Reader::new(md)?.surface()
}

struct Reader<'m, 'a> {
    md: &'m Metadata<'a>,
    /// Nested type row → enclosing type row.
    enclosing: HashMap<u32, u32>,
    /// Custom attribute type names per parent (`HasCustomAttribute` coded reference).
    attributes: HashMap<RowRef, Vec<u32>>,
    /// Constant rows per parent (`HasConstant`).
    constants: HashMap<RowRef, u32>,
    /// Generic parameter rows per owner (`TypeOrMethodDef`), in number order.
    generic_params: HashMap<RowRef, Vec<u32>>,
    /// Constraint rows per generic parameter row.
    constraints: HashMap<u32, Vec<u32>>,
    /// Methods that are property or event accessors.
    accessors: BTreeSet<u32>,
    /// MethodSemantics rows per property or event (`HasSemantics`).
    semantics: HashMap<RowRef, Vec<u32>>,
    /// InterfaceImpl rows per type.
    interfaces: HashMap<u32, Vec<u32>>,
    /// PropertyMap rows per type.
    property_maps: HashMap<u32, Vec<u32>>,
    /// EventMap rows per type.
    event_maps: HashMap<u32, Vec<u32>>,
    /// The type owning each method (index: method row - 1).
    method_owner: Vec<u32>,
}

fn row(table: Table, row: u32) -> RowRef {
    RowRef {
        table: table as u8,
        row,
    }
}

impl<'m, 'a> Reader<'m, 'a> {
    fn new(md: &'m Metadata<'a>) -> Result<Self> {
        let mut enclosing = HashMap::new();
        for r in 1..=md.rows(Table::NestedClass) {
            enclosing.insert(
                md.cell(Table::NestedClass, r, 0)?,
                md.cell(Table::NestedClass, r, 1)?,
            );
        }
        let mut attributes: HashMap<RowRef, Vec<u32>> = HashMap::new();
        for r in 1..=md.rows(Table::CustomAttribute) {
            if let Some(parent) =
                md.coded(Table::CustomAttribute, r, 0, Coded::HasCustomAttribute)?
            {
                attributes.entry(parent).or_default().push(r);
            }
        }
        let mut constants = HashMap::new();
        for r in 1..=md.rows(Table::Constant) {
            if let Some(parent) = md.coded(Table::Constant, r, 1, Coded::HasConstant)? {
                constants.insert(parent, r);
            }
        }
        let mut generic_params: HashMap<RowRef, Vec<u32>> = HashMap::new();
        for r in 1..=md.rows(Table::GenericParam) {
            if let Some(owner) = md.coded(Table::GenericParam, r, 2, Coded::TypeOrMethodDef)? {
                generic_params.entry(owner).or_default().push(r);
            }
        }
        for list in generic_params.values_mut() {
            let mut keyed = Vec::with_capacity(list.len());
            for &r in list.iter() {
                keyed.push((md.cell(Table::GenericParam, r, 0)?, r));
            }
            keyed.sort();
            *list = keyed.into_iter().map(|(_, r)| r).collect();
        }
        let mut constraints: HashMap<u32, Vec<u32>> = HashMap::new();
        for r in 1..=md.rows(Table::GenericParamConstraint) {
            constraints
                .entry(md.cell(Table::GenericParamConstraint, r, 0)?)
                .or_default()
                .push(r);
        }
        let mut accessors = BTreeSet::new();
        let mut semantics: HashMap<RowRef, Vec<u32>> = HashMap::new();
        for r in 1..=md.rows(Table::MethodSemantics) {
            accessors.insert(md.cell(Table::MethodSemantics, r, 1)?);
            if let Some(owner) = md.coded(Table::MethodSemantics, r, 2, Coded::HasSemantics)? {
                semantics.entry(owner).or_default().push(r);
            }
        }
        let by_first_column = |table: Table| -> Result<HashMap<u32, Vec<u32>>> {
            let mut map: HashMap<u32, Vec<u32>> = HashMap::new();
            for r in 1..=md.rows(table) {
                map.entry(md.cell(table, r, 0)?).or_default().push(r);
            }
            Ok(map)
        };
        let mut method_owner = vec![0; md.rows(Table::MethodDef) as usize];
        for t in 1..=md.rows(Table::TypeDef) {
            let (start, end) = md.list(Table::TypeDef, t, 5, Table::MethodDef)?;
            for m in start..end {
                method_owner[m as usize - 1] = t;
            }
        }
        Ok(Reader {
            md,
            enclosing,
            attributes,
            constants,
            generic_params,
            constraints,
            accessors,
            semantics,
            interfaces: by_first_column(Table::InterfaceImpl)?,
            property_maps: by_first_column(Table::PropertyMap)?,
            event_maps: by_first_column(Table::EventMap)?,
            method_owner,
        })
    }

    fn surface(&self) -> Result<AssemblySurface> {
        let md = self.md;
        if md.rows(Table::Assembly) == 0 {
            return Err(ReadError::Malformed(
                "no Assembly row: this is a module, not an assembly".into(),
            ));
        }
        let name = md.string(Table::Assembly, 1, 7)?.to_string();
        let version: Vec<String> = (1..=4)
            .map(|c| md.cell(Table::Assembly, 1, c).map(|v| v.to_string()))
            .collect::<Result<_>>()?;
        let culture = md.string(Table::Assembly, 1, 8)?;
        let key = md.blob(Table::Assembly, 1, 6)?;
        let token = if key.is_empty() {
            "null".to_string()
        } else {
            Sha1::digest(key)
                .iter()
                .rev()
                .take(8)
                .map(|b| format!("{b:02x}"))
                .collect()
        };
        let identity = format!(
            "{name}, Version={}, Culture={}, PublicKeyToken={token}",
            version.join("."),
            if culture.is_empty() {
                "neutral"
            } else {
                culture
            }
        );
        let mut types = BTreeMap::new();
        for t in 1..=md.rows(Table::TypeDef) {
            if self.type_visible(t, 0)? {
                types.insert(self.typedef_name(t, 0)?, self.type_surface(t)?);
            }
        }
        for e in 1..=md.rows(Table::ExportedType) {
            // Compilers write forwarders without visibility bits; a nested type's forwarder
            // points at its enclosing type's entry and moves with it.
            let flags = md.cell(Table::ExportedType, e, 0)?;
            let target = md.coded(Table::ExportedType, e, 4, Coded::Implementation)?;
            if flags & FORWARDER == 0 || target.is_none_or(|t| t.table != Table::AssemblyRef as u8)
            {
                continue;
            }
            let namespace = md.string(Table::ExportedType, e, 3)?;
            let type_name = md.string(Table::ExportedType, e, 2)?;
            types.insert(
                join_namespace(namespace, type_name),
                TypeSurface {
                    declaration: "forwarded".to_string(),
                    forwarded: true,
                    members: BTreeMap::new(),
                },
            );
        }
        Ok(AssemblySurface {
            name,
            identity,
            types,
        })
    }

    /// A type is visible when it is public, or nested public/protected in a visible type.
    fn type_visible(&self, t: u32, depth: usize) -> Result<bool> {
        if depth > MAX_DEPTH {
            return Err(ReadError::Malformed("type nesting is cyclic".into()));
        }
        let flags = self.md.cell(Table::TypeDef, t, 0)?;
        Ok(match flags & VISIBILITY_MASK {
            1 => true,
            2 | 4 | 7 => match self.enclosing.get(&t) {
                Some(&outer) => self.type_visible(outer, depth + 1)?,
                None => false,
            },
            _ => false,
        })
    }

    fn typedef_name(&self, t: u32, depth: usize) -> Result<String> {
        if depth > MAX_DEPTH {
            return Err(ReadError::Malformed("type nesting is cyclic".into()));
        }
        let name = self.md.string(Table::TypeDef, t, 1)?;
        match self.enclosing.get(&t) {
            Some(&outer) => Ok(format!("{}+{name}", self.typedef_name(outer, depth + 1)?)),
            None => Ok(join_namespace(self.md.string(Table::TypeDef, t, 2)?, name)),
        }
    }

    fn typeref_name(&self, r: u32, depth: usize) -> Result<String> {
        if depth > MAX_DEPTH {
            return Err(ReadError::Malformed(
                "type reference nesting is cyclic".into(),
            ));
        }
        let name = self.md.string(Table::TypeRef, r, 1)?;
        match self
            .md
            .coded(Table::TypeRef, r, 0, Coded::ResolutionScope)?
        {
            Some(scope) if scope.table == Table::TypeRef as u8 => Ok(format!(
                "{}+{name}",
                self.typeref_name(scope.row, depth + 1)?
            )),
            _ => Ok(join_namespace(self.md.string(Table::TypeRef, r, 2)?, name)),
        }
    }

    /// The name of a TypeDef, TypeRef or TypeSpec reference.
    fn type_name(&self, r: RowRef, generics: &Generics, depth: usize) -> Result<String> {
        match r.table {
            t if t == Table::TypeDef as u8 => self.typedef_name(r.row, depth),
            t if t == Table::TypeRef as u8 => self.typeref_name(r.row, depth),
            t if t == Table::TypeSpec as u8 => {
                let blob = self.md.blob(Table::TypeSpec, r.row, 0)?;
                self.sig_type(&mut Blob::new(blob), generics, depth + 1)
            }
            t => Err(ReadError::Malformed(format!(
                "table {t:#04x} where a type was expected"
            ))),
        }
    }

    fn generic_names(&self, owner: RowRef) -> Result<Vec<String>> {
        self.generic_params
            .get(&owner)
            .map(|rows| {
                rows.iter()
                    .map(|&r| {
                        self.md
                            .string(Table::GenericParam, r, 3)
                            .map(str::to_string)
                    })
                    .collect()
            })
            .unwrap_or_else(|| Ok(Vec::new()))
    }

    /// `<T, U>` and the ` where …` clauses of an owner's generic parameters.
    fn generic_declaration(&self, owner: RowRef, generics: &Generics) -> Result<(String, String)> {
        let Some(rows) = self.generic_params.get(&owner) else {
            return Ok((String::new(), String::new()));
        };
        let mut names = Vec::new();
        let mut clauses = Vec::new();
        for &r in rows {
            let flags = self.md.cell(Table::GenericParam, r, 1)?;
            let name = self.md.string(Table::GenericParam, r, 3)?;
            let variance = match flags & 0x3 {
                1 => "out ",
                2 => "in ",
                _ => "",
            };
            names.push(format!("{variance}{name}"));
            let mut constraint = Vec::new();
            if flags & 0x4 != 0 {
                constraint.push("class".to_string());
            }
            if flags & 0x8 != 0 {
                constraint.push("struct".to_string());
            }
            let mut types = Vec::new();
            for &c in self.constraints.get(&r).into_iter().flatten() {
                if let Some(t) =
                    self.md
                        .coded(Table::GenericParamConstraint, c, 1, Coded::TypeDefOrRef)?
                {
                    types.push(self.type_name(t, generics, 0)?);
                }
            }
            types.sort();
            constraint.extend(types);
            if flags & 0x10 != 0 && flags & 0x8 == 0 {
                constraint.push("new()".to_string());
            }
            if !constraint.is_empty() {
                clauses.push(format!(" where {name} : {}", constraint.join(", ")));
            }
        }
        Ok((format!("<{}>", names.join(", ")), clauses.concat()))
    }

    /// The behaviour-changing attributes on a metadata row, as `[Obsolete("…")] `.
    fn caller_attributes(&self, parent: RowRef) -> Result<String> {
        let mut out = Vec::new();
        for &a in self.attributes.get(&parent).into_iter().flatten() {
            let Some(ctor) =
                self.md
                    .coded(Table::CustomAttribute, a, 1, Coded::CustomAttributeType)?
            else {
                continue;
            };
            let attribute_type = self.attribute_type(ctor)?;
            match attribute_type.as_str() {
                "System.FlagsAttribute" => out.push("[Flags]".to_string()),
                "System.ObsoleteAttribute" => {
                    let value = self.md.blob(Table::CustomAttribute, a, 2)?;
                    out.push(format!("[Obsolete{}]", self.fixed_arguments(ctor, value)?));
                }
                "System.ParamArrayAttribute" => out.push("params".to_string()),
                "System.Runtime.CompilerServices.ExtensionAttribute"
                    if parent.table == Table::MethodDef as u8 =>
                {
                    out.push("[Extension]".to_string())
                }
                _ => {}
            }
        }
        out.sort();
        Ok(out.into_iter().map(|a| format!("{a} ")).collect())
    }

    /// The fixed string and bool arguments of a custom attribute value (II.23.3), as
    /// `("message", true)`; the constructor's signature says which arguments there are.
    fn fixed_arguments(&self, ctor: RowRef, value: &[u8]) -> Result<String> {
        let signature = if ctor.table == Table::MethodDef as u8 {
            self.md.blob(Table::MethodDef, ctor.row, 4)?
        } else {
            self.md.blob(Table::MemberRef, ctor.row, 2)?
        };
        let (_, params) = self.method_signature(&mut Blob::new(signature), &Generics::default())?;
        let mut blob = Blob::new(value);
        if params.is_empty() {
            return Ok(String::new());
        }
        if blob.bytes(2)? != [1, 0] {
            return Err(ReadError::Malformed(
                "a custom attribute value has no prolog".into(),
            ));
        }
        let mut args = Vec::new();
        for param in params {
            let known = matches!(param.as_str(), "string" | "bool");
            args.push(match param.as_str() {
                "string" if blob.peek()? == 0xff => {
                    blob.byte()?;
                    "null".to_string()
                }
                "string" => {
                    let len = blob.compressed()? as usize;
                    format!("{:?}", String::from_utf8_lossy(blob.bytes(len)?))
                }
                "bool" => (blob.byte()? != 0).to_string(),
                other => format!("({other})"),
            });
            if !known {
                // The layout of other argument types is not read: stop rather than misread.
                break;
            }
        }
        Ok(format!("({})", args.join(", ")))
    }

    fn attribute_type(&self, ctor: RowRef) -> Result<String> {
        if ctor.table == Table::MethodDef as u8 {
            // An attribute defined in this assembly: the type owning the constructor.
            return match self.method_owner.get(ctor.row as usize - 1) {
                Some(&t) if t != 0 => self.typedef_name(t, 0),
                _ => Ok(String::new()),
            };
        }
        match self
            .md
            .coded(Table::MemberRef, ctor.row, 0, Coded::MemberRefParent)?
        {
            Some(parent) if parent.table == Table::TypeRef as u8 => {
                self.typeref_name(parent.row, 0)
            }
            Some(parent) if parent.table == Table::TypeDef as u8 => {
                self.typedef_name(parent.row, 0)
            }
            _ => Ok(String::new()),
        }
    }

    fn type_surface(&self, t: u32) -> Result<TypeSurface> {
        let md = self.md;
        let me = row(Table::TypeDef, t);
        let flags = md.cell(Table::TypeDef, t, 0)?;
        let name = self.typedef_name(t, 0)?;
        let generics = Generics {
            of_type: self.generic_names(me)?,
            of_method: Vec::new(),
        };
        let base = match md.coded(Table::TypeDef, t, 3, Coded::TypeDefOrRef)? {
            Some(b) => Some(self.type_name(b, &generics, 0)?),
            None => None,
        };
        let interfaces = self.public_interfaces(t, &generics)?;
        let is_enum = base.as_deref() == Some("System.Enum");
        let kind = if flags & INTERFACE != 0 {
            "interface"
        } else if is_enum {
            "enum"
        } else if base.as_deref() == Some("System.ValueType") && name != "System.Enum" {
            "struct"
        } else if base.as_deref() == Some("System.MulticastDelegate") {
            "delegate class"
        } else {
            "class"
        };
        let modifiers = match (flags & ABSTRACT != 0, flags & SEALED != 0) {
            _ if kind != "class" => "",
            (true, true) => "static ",
            (true, false) => "abstract ",
            (false, true) => "sealed ",
            (false, false) => "",
        };
        let access = match flags & VISIBILITY_MASK {
            4 => "protected",
            7 => "protected internal",
            _ => "public",
        };
        let (params, clauses) = self.generic_declaration(me, &generics)?;
        let mut bases: Vec<String> = match base.as_deref() {
            None | Some("System.Object" | "System.ValueType" | "System.Enum") => Vec::new(),
            Some(b) => vec![b.to_string()],
        };
        bases.extend(interfaces);
        let members = self.members(t, &name, is_enum, &generics)?;
        if is_enum {
            // The underlying type is the instance field `value__`.
            let (fields_start, fields_end) = md.list(Table::TypeDef, t, 4, Table::Field)?;
            for f in fields_start..fields_end {
                if md.cell(Table::Field, f, 0)? as u16 & STATIC == 0 {
                    let sig = md.blob(Table::Field, f, 2)?;
                    let mut blob = Blob::new(sig);
                    blob.byte()?;
                    bases = vec![self.sig_type(&mut blob, &generics, 0)?];
                }
            }
        }
        let declaration = format!(
            "{}{access} {modifiers}{kind} {name}{params}{}{clauses}",
            self.caller_attributes(me)?,
            if bases.is_empty() {
                String::new()
            } else {
                format!(" : {}", bases.join(", "))
            }
        );
        Ok(TypeSurface {
            declaration,
            forwarded: false,
            members,
        })
    }

    /// The interfaces type `t` implements, but for internal ones of this assembly, sorted.
    fn public_interfaces(&self, t: u32, generics: &Generics) -> Result<Vec<String>> {
        let md = self.md;
        let mut interfaces = Vec::new();
        for &i in self.interfaces.get(&t).into_iter().flatten() {
            if let Some(iface) = md.coded(Table::InterfaceImpl, i, 1, Coded::TypeDefOrRef)? {
                // An internal interface of this assembly is no part of the public surface.
                let root = self.spec_root(iface)?;
                if root.table == Table::TypeDef as u8 && !self.type_visible(root.row, 0)? {
                    continue;
                }
                interfaces.push(self.type_name(iface, generics, 0)?);
            }
        }
        interfaces.sort();
        interfaces.sort();
        Ok(interfaces)
    }

    /// The public surface of type `t`'s fields, methods, properties and events, by identity.
    fn members(
        &self,
        t: u32,
        name: &str,
        is_enum: bool,
        generics: &Generics,
    ) -> Result<BTreeMap<String, Member>> {
        let md = self.md;
        let mut members = BTreeMap::new();
        let (fields_start, fields_end) = md.list(Table::TypeDef, t, 4, Table::Field)?;
        for f in fields_start..fields_end {
            if let Some((key, member)) = self.field(f, name, is_enum, generics)? {
                members.insert(key, member);
            }
        }
        let (methods_start, methods_end) = md.list(Table::TypeDef, t, 5, Table::MethodDef)?;
        for m in methods_start..methods_end {
            if let Some((key, member)) = self.method(m, name, generics)? {
                members.insert(key, member);
            }
        }
        for &p in self.property_maps.get(&t).into_iter().flatten() {
            let (start, end) = md.list(Table::PropertyMap, p, 1, Table::Property)?;
            for prop in start..end {
                if let Some((key, member)) = self.property(prop, name, generics)? {
                    members.insert(key, member);
                }
            }
        }
        for &e in self.event_maps.get(&t).into_iter().flatten() {
            let (start, end) = md.list(Table::EventMap, e, 1, Table::Event)?;
            for event in start..end {
                if let Some((key, member)) = self.event(event, name, generics)? {
                    members.insert(key, member);
                }
            }
        }
        Ok(members)
    }

    /// The TypeDef or TypeRef a reference names (the generic type of an instantiation).
    fn spec_root(&self, r: RowRef) -> Result<RowRef> {
        if r.table != Table::TypeSpec as u8 {
            return Ok(r);
        }
        let mut blob = Blob::new(self.md.blob(Table::TypeSpec, r.row, 0)?);
        if blob.byte()? == 0x15 {
            blob.byte()?;
            return blob.type_def_or_ref();
        }
        Ok(r)
    }

    fn access(flags: u16) -> Option<&'static str> {
        match flags & ACCESS_MASK {
            PUBLIC => Some("public"),
            FAMILY => Some("protected"),
            FAM_OR_ASSEM => Some("protected internal"),
            _ => None,
        }
    }

    fn field(
        &self,
        f: u32,
        owner: &str,
        in_enum: bool,
        generics: &Generics,
    ) -> Result<Option<(String, Member)>> {
        let md = self.md;
        let flags = md.cell(Table::Field, f, 0)? as u16;
        let Some(access) = Self::access(flags) else {
            return Ok(None);
        };
        let name = md.string(Table::Field, f, 1)?;
        let me = row(Table::Field, f);
        let value = match self.constants.get(&me) {
            Some(&c) => format!(" = {}", self.constant(c)?),
            None => String::new(),
        };
        let attributes = self.caller_attributes(me)?;
        let declaration = if in_enum && flags & FIELD_LITERAL != 0 {
            format!("{attributes}{owner}.{name}{value}")
        } else {
            let mut blob = Blob::new(md.blob(Table::Field, f, 2)?);
            if blob.byte()? != 0x06 {
                return Err(ReadError::Malformed(format!(
                    "field {name} has no field signature"
                )));
            }
            let ty = self.sig_type(&mut blob, generics, 0)?;
            let modifier = if flags & FIELD_LITERAL != 0 {
                "const "
            } else {
                match (flags & STATIC != 0, flags & FIELD_INIT_ONLY != 0) {
                    (true, true) => "static readonly ",
                    (true, false) => "static ",
                    (false, true) => "readonly ",
                    (false, false) => "",
                }
            };
            format!("{attributes}{access} {modifier}{ty} {owner}.{name}{value}")
        };
        Ok(Some((
            format!("{owner}.{name}"),
            Member {
                name: name.to_string(),
                declaration,
            },
        )))
    }

    fn method(&self, m: u32, owner: &str, generics: &Generics) -> Result<Option<(String, Member)>> {
        let md = self.md;
        let flags = md.cell(Table::MethodDef, m, 2)? as u16;
        let Some(access) = Self::access(flags) else {
            return Ok(None);
        };
        if self.accessors.contains(&m) {
            return Ok(None);
        }
        let name = md.string(Table::MethodDef, m, 3)?;
        let me = row(Table::MethodDef, m);
        let generics = Generics {
            of_type: generics.of_type.clone(),
            of_method: self.generic_names(me)?,
        };
        let (type_params, clauses) = self.generic_declaration(me, &generics)?;
        let mut blob = Blob::new(md.blob(Table::MethodDef, m, 4)?);
        let (ret, params) = self.method_signature(&mut blob, &generics)?;
        // Parameter rows by sequence number (0 is the return value).
        let mut param_rows: HashMap<u16, u32> = HashMap::new();
        let (start, end) = md.list(Table::MethodDef, m, 5, Table::Param)?;
        for p in start..end {
            param_rows.insert(md.cell(Table::Param, p, 1)? as u16, p);
        }
        let mut identity = Vec::new();
        let mut rendered = Vec::new();
        for (i, ty) in params.iter().enumerate() {
            let row_of = u16::try_from(i + 1)
                .ok()
                .and_then(|seq| param_rows.get(&seq).copied());
            let (param_name, pflags, extra) = match row_of {
                Some(p) => (
                    md.string(Table::Param, p, 2)?,
                    md.cell(Table::Param, p, 0)? as u16,
                    self.caller_attributes(row(Table::Param, p))?,
                ),
                None => ("", 0, String::new()),
            };
            let ty = match ty.strip_prefix("ref ") {
                Some(inner) if pflags & PARAM_OUT != 0 && pflags & PARAM_IN == 0 => {
                    format!("out {inner}")
                }
                _ => ty.clone(),
            };
            let default = match row_of.and_then(|p| self.constants.get(&row(Table::Param, p))) {
                Some(&c) if pflags & PARAM_HAS_DEFAULT != 0 => format!(" = {}", self.constant(c)?),
                _ => String::new(),
            };
            identity.push(ty.clone());
            rendered.push(
                format!("{extra}{ty} {param_name}{default}")
                    .trim_end()
                    .to_string(),
            );
        }
        let mut modifiers = Vec::new();
        if flags & STATIC != 0 {
            modifiers.push("static");
        }
        if flags & METHOD_ABSTRACT != 0 {
            modifiers.push("abstract");
        } else if flags & METHOD_VIRTUAL != 0 {
            if flags & METHOD_FINAL != 0 {
                modifiers.push("sealed");
            }
            modifiers.push(if flags & METHOD_NEW_SLOT != 0 {
                "virtual"
            } else {
                "override"
            });
        }
        let modifiers: String = modifiers.iter().map(|m| format!("{m} ")).collect();
        let bare = name.strip_prefix('.').unwrap_or(name);
        let key_suffix = if matches!(name, "op_Implicit" | "op_Explicit") {
            format!(" : {ret}")
        } else {
            String::new()
        };
        let arity = if generics.of_method.is_empty() {
            String::new()
        } else {
            format!("``{}", generics.of_method.len())
        };
        let key = format!("{owner}.{bare}{arity}({}){key_suffix}", identity.join(", "));
        let declaration = format!(
            "{}{access} {modifiers}{ret} {owner}.{bare}{type_params}({}){clauses}",
            self.caller_attributes(me)?,
            rendered.join(", ")
        );
        Ok(Some((
            key,
            Member {
                name: bare.to_string(),
                declaration,
            },
        )))
    }

    /// The most visible access among a property's or event's accessors, with their names.
    fn accessor_access(&self, owner: RowRef) -> Result<(Option<&'static str>, Vec<String>)> {
        let md = self.md;
        let mut best: Option<(u16, &'static str)> = None;
        let mut kinds = Vec::new();
        for &s in self.semantics.get(&owner).into_iter().flatten() {
            let semantics = md.cell(Table::MethodSemantics, s, 0)? as u16;
            let method = md.cell(Table::MethodSemantics, s, 1)?;
            let flags = md.cell(Table::MethodDef, method, 2)? as u16;
            let Some(access) = Self::access(flags) else {
                continue;
            };
            let kind = match semantics {
                SEM_GETTER => "get",
                SEM_SETTER => "set",
                SEM_ADD_ON => "add",
                SEM_REMOVE_ON => "remove",
                _ => continue,
            };
            let mut modifiers = String::new();
            if flags & STATIC != 0 {
                modifiers.push_str("static ");
            }
            if flags & METHOD_ABSTRACT != 0 {
                modifiers.push_str("abstract ");
            } else if flags & METHOD_VIRTUAL != 0 && flags & METHOD_FINAL == 0 {
                modifiers.push_str("virtual ");
            }
            kinds.push(format!("{access} {modifiers}{kind};"));
            let rank = flags & ACCESS_MASK;
            if best.is_none_or(|(r, _)| rank > r) {
                best = Some((rank, access));
            }
        }
        kinds.sort();
        Ok((best.map(|(_, a)| a), kinds))
    }

    fn property(
        &self,
        p: u32,
        owner: &str,
        generics: &Generics,
    ) -> Result<Option<(String, Member)>> {
        let md = self.md;
        let me = row(Table::Property, p);
        let (Some(access), accessors) = self.accessor_access(me)? else {
            return Ok(None);
        };
        let name = md.string(Table::Property, p, 1)?;
        let mut blob = Blob::new(md.blob(Table::Property, p, 2)?);
        if blob.byte()? & 0x0f != 0x08 {
            return Err(ReadError::Malformed(format!(
                "property {name} has no property signature"
            )));
        }
        let count = blob.compressed()?;
        let ty = self.sig_type(&mut blob, generics, 0)?;
        let mut params = Vec::new();
        for _ in 0..count {
            params.push(self.sig_type(&mut blob, generics, 0)?);
        }
        let indexer = if params.is_empty() {
            String::new()
        } else {
            format!("[{}]", params.join(", "))
        };
        let declaration = format!(
            "{}{access} {ty} {owner}.{name}{indexer} {{ {} }}",
            self.caller_attributes(me)?,
            accessors.join(" ")
        );
        Ok(Some((
            format!("{owner}.{name}{indexer}"),
            Member {
                name: name.to_string(),
                declaration,
            },
        )))
    }

    fn event(&self, e: u32, owner: &str, generics: &Generics) -> Result<Option<(String, Member)>> {
        let md = self.md;
        let me = row(Table::Event, e);
        let (Some(access), accessors) = self.accessor_access(me)? else {
            return Ok(None);
        };
        let name = md.string(Table::Event, e, 1)?;
        let ty = match md.coded(Table::Event, e, 2, Coded::TypeDefOrRef)? {
            Some(t) => self.type_name(t, generics, 0)?,
            None => String::new(),
        };
        let declaration = format!(
            "{}{access} event {ty} {owner}.{name} {{ {} }}",
            self.caller_attributes(me)?,
            accessors.join(" ")
        );
        Ok(Some((
            format!("{owner}.{name}"),
            Member {
                name: name.to_string(),
                declaration,
            },
        )))
    }

    /// A method signature's return type and parameter types.
    fn method_signature(
        &self,
        blob: &mut Blob,
        generics: &Generics,
    ) -> Result<(String, Vec<String>)> {
        let convention = blob.byte()?;
        if convention & 0x10 != 0 {
            blob.compressed()?;
        }
        let count = blob.compressed()?;
        let ret = self.sig_type(blob, generics, 0)?;
        let mut params = Vec::new();
        for _ in 0..count {
            if blob.peek()? == 0x41 {
                // SENTINEL: the start of a vararg call's extra arguments.
                blob.byte()?;
                params.push("...".to_string());
            }
            params.push(self.sig_type(blob, generics, 0)?);
        }
        if convention & 0x0f == 0x05 {
            params.push("__arglist".to_string());
        }
        Ok((ret, params))
    }

    /// One type in a signature (II.23.2.12), rendered C#-like.
    fn sig_type(&self, blob: &mut Blob, generics: &Generics, depth: usize) -> Result<String> {
        if depth > MAX_DEPTH {
            return Err(ReadError::Malformed("a signature nests too deeply".into()));
        }
        let next = |blob: &mut Blob| self.sig_type(blob, generics, depth + 1);
        let element = blob.byte()?;
        Ok(match element {
            0x01 => "void".into(),
            0x02 => "bool".into(),
            0x03 => "char".into(),
            0x04 => "sbyte".into(),
            0x05 => "byte".into(),
            0x06 => "short".into(),
            0x07 => "ushort".into(),
            0x08 => "int".into(),
            0x09 => "uint".into(),
            0x0a => "long".into(),
            0x0b => "ulong".into(),
            0x0c => "float".into(),
            0x0d => "double".into(),
            0x0e => "string".into(),
            0x0f => format!("{}*", next(blob)?),
            0x10 => format!("ref {}", next(blob)?),
            0x11 | 0x12 => {
                let r = blob.type_def_or_ref()?;
                self.type_name(r, generics, depth + 1)?
            }
            0x13 | 0x1e => {
                let n = blob.compressed()? as usize;
                let (names, mark) = if element == 0x13 {
                    (&generics.of_type, "!")
                } else {
                    (&generics.of_method, "!!")
                };
                names
                    .get(n)
                    .cloned()
                    .unwrap_or_else(|| format!("{mark}{n}"))
            }
            0x14 => {
                let inner = next(blob)?;
                let rank = blob.compressed()?;
                let sizes = blob.compressed()?;
                for _ in 0..sizes {
                    blob.compressed()?;
                }
                let bounds = blob.compressed()?;
                for _ in 0..bounds {
                    blob.compressed()?;
                }
                let commas = ",".repeat(rank.saturating_sub(1).min(32) as usize);
                format!("{inner}[{commas}]")
            }
            0x15 => {
                blob.byte()?;
                let r = blob.type_def_or_ref()?;
                let generic = self.type_name(r, generics, depth + 1)?;
                let count = blob.compressed()?;
                let mut args = Vec::new();
                for _ in 0..count {
                    args.push(next(blob)?);
                }
                let bare = generic
                    .rsplit_once('`')
                    .filter(|(_, n)| n.chars().all(|c| c.is_ascii_digit()))
                    .map_or(generic.as_str(), |(b, _)| b);
                format!("{bare}<{}>", args.join(", "))
            }
            0x16 => "System.TypedReference".into(),
            0x18 => "nint".into(),
            0x19 => "nuint".into(),
            0x1b => {
                let (ret, params) = self.method_signature(blob, generics)?;
                format!("delegate*<{}>", [params, vec![ret]].concat().join(", "))
            }
            0x1c => "object".into(),
            0x1d => format!("{}[]", next(blob)?),
            0x1f | 0x20 => {
                let r = blob.type_def_or_ref()?;
                let modifier = self.type_name(r, generics, depth + 1)?;
                let inner = next(blob)?;
                let kind = if element == 0x1f { "modreq" } else { "modopt" };
                format!("{inner} {kind}({modifier})")
            }
            0x45 => next(blob)?,
            other => {
                return Err(ReadError::Malformed(format!(
                    "unknown element type {other:#04x} in a signature"
                )))
            }
        })
    }

    /// A constant's value (II.22.9), rendered as C# would write it.
    fn constant(&self, c: u32) -> Result<String> {
        let kind = self.md.cell(Table::Constant, c, 0)? as u8;
        let value = self.md.blob(Table::Constant, c, 2)?;
        let mut b = Blob::new(value);
        let mut n = |len: usize| -> Result<[u8; 8]> {
            let mut a = [0u8; 8];
            a[..len].copy_from_slice(b.bytes(len)?);
            Ok(a)
        };
        Ok(match kind {
            0x02 => (n(1)?[0] != 0).to_string(),
            0x03 => {
                let a = n(2)?;
                format!("'\\u{:04x}'", u16::from_le_bytes([a[0], a[1]]))
            }
            0x04 => (n(1)?[0] as i8).to_string(),
            0x05 => n(1)?[0].to_string(),
            0x06 => i16::from_le_bytes(n(2)?[..2].try_into().unwrap_or_default()).to_string(),
            0x07 => u16::from_le_bytes(n(2)?[..2].try_into().unwrap_or_default()).to_string(),
            0x08 => i32::from_le_bytes(n(4)?[..4].try_into().unwrap_or_default()).to_string(),
            0x09 => u32::from_le_bytes(n(4)?[..4].try_into().unwrap_or_default()).to_string(),
            0x0a => i64::from_le_bytes(n(8)?).to_string(),
            0x0b => u64::from_le_bytes(n(8)?).to_string(),
            0x0c => format!(
                "{:?}",
                f32::from_le_bytes(n(4)?[..4].try_into().unwrap_or_default())
            ),
            0x0d => format!("{:?}", f64::from_le_bytes(n(8)?)),
            0x0e => {
                let units: Vec<u16> = value
                    .chunks_exact(2)
                    .map(|c| u16::from_le_bytes([c[0], c[1]]))
                    .collect();
                format!("{:?}", String::from_utf16_lossy(&units))
            }
            0x12 => "null".into(),
            other => {
                return Err(ReadError::Malformed(format!(
                    "unknown constant type {other:#04x}"
                )))
            }
        })
    }
}

fn join_namespace(namespace: &str, name: &str) -> String {
    if namespace.is_empty() {
        name.to_string()
    } else {
        format!("{namespace}.{name}")
    }
}
