//! CloudFormation templates: find the `AWS::CodePipeline::Pipeline` resources and evaluate the
//! intrinsic functions in one of them offline.
//!
//! What resolves: `Ref` to a template parameter (the `--param` value, else its `Default`; list
//! types split on commas), to a pseudo parameter (`AWS::Partition` and `AWS::URLSuffix` follow
//! the Region, the others come from `--param AWS::Region=…` etc.), and to a resource whose `Ref`
//! is a name property kiln can read (a CodeBuild project's `Name`, …, [`REF_IS_NAME`]);
//! `Fn::Sub`, `Fn::Join`, `Fn::Select`, `Fn::Split`, `Fn::FindInMap` (with LanguageExtensions'
//! `DefaultValue`), `Fn::Base64`, `Fn::If` over the template's `Conditions` (`Fn::Equals`,
//! `Fn::Not`, `Fn::And`, `Fn::Or`, `Condition`), and `AWS::NoValue`. The short forms (`!Ref`,
//! `!GetAtt` …) are the same functions: YAML tags read by kiln-yaml.
//!
//! What cannot resolve offline (a resource's generated name, `Fn::GetAtt`, `Fn::ImportValue`,
//! `Fn::GetAZs`, a parameter without a default, a condition over one of those) becomes a
//! `${NAME}` placeholder that needs `--param NAME=VALUE`: `NAME` is the parameter or resource's
//! logical id, `Resource.Attribute` for `Fn::GetAtt`, the export name for `Fn::ImportValue`. A
//! user-given value for any of those names wins over what the template would give.
//! Functions kiln does not evaluate (`Fn::Cidr`, `Fn::Length`, `Fn::ToJsonString`,
//! `Fn::Transform`) need a `--param` named after the function.

use std::collections::{BTreeMap, HashMap};

use base64::Engine;
use kiln_spec::Diagnostic;
use kiln_yaml::{Node, NodeKind};

use super::tree::{scalar_text, tag_span, Scalars, Val};
use super::Unresolved;

mod conditions;
use crate::model::{Span, Text};
use crate::params::Params;

/// Resource types whose `Ref` returns a name given by a property (when the template sets it;
/// else CloudFormation generates one and `--param LogicalId=…` gives it).
pub const REF_IS_NAME: &[(&str, &str)] = &[
    ("AWS::CodeBuild::Project", "Name"),
    ("AWS::S3::Bucket", "BucketName"),
    ("AWS::CodeDeploy::Application", "ApplicationName"),
    ("AWS::CodeDeploy::DeploymentGroup", "DeploymentGroupName"),
    ("AWS::Lambda::Function", "FunctionName"),
    ("AWS::ECS::Cluster", "ClusterName"),
    ("AWS::IAM::Role", "RoleName"),
    ("AWS::SSM::Parameter", "Name"),
];

/// `Fn::GetAtt` attributes that are a property kiln can read.
const ATTR_IS_PROPERTY: &[(&str, &str, &str)] = &[("AWS::CodeCommit::Repository", "Name", "RepositoryName"), ("AWS::ECR::Repository", "RepositoryName", "RepositoryName")];

/// How many resource names may refer to other resources' names in a row.
const MAX_FOLLOW: usize = 16;

const PSEUDO: &[&str] = &["AWS::AccountId", "AWS::NotificationARNs", "AWS::Partition", "AWS::Region", "AWS::StackId", "AWS::StackName", "AWS::URLSuffix"];

/// A template parameter.
struct Param<'n> {
    default: Option<&'n Node>,
    list: bool,
}

/// An evaluated value, or nothing (`AWS::NoValue`, a removed entry).
enum Ev {
    V(Val),
    NoValue,
}

pub(crate) struct Template<'s> {
    source: &'s str,
    scalars: Scalars,
    user: &'s Params,
    params: BTreeMap<&'s str, Param<'s>>,
    mappings: Option<&'s Node>,
    conditions: HashMap<&'s str, &'s Node>,
    /// Resources by logical id: (type, node).
    pub resources: Vec<(&'s str, &'s str, &'s Node, Span)>,
    cond_cache: HashMap<String, Result<bool, Vec<String>>>,
    /// Conditions being evaluated (to refuse a cycle).
    cond_stack: Vec<String>,
    /// Inside a condition, unresolved references are reported at the `Fn::If` that uses it.
    quiet: usize,
    /// Resource `Ref`s followed into other resources' properties (a cycle is refused).
    follow: usize,
    pub unresolved: Vec<Unresolved>,
    pub diags: Vec<Diagnostic>,
}

fn map_get<'n>(n: &'n Node, key: &str) -> Option<&'n Node> {
    match &n.kind {
        NodeKind::Map(entries) => entries.iter().find(|(k, _)| k.as_scalar() == Some(key)).map(|(_, v)| v),
        _ => None,
    }
}

/// The long name of a short-form tag (`!Ref` → `Ref`, `!Sub` → `Fn::Sub`).
fn short_form(tag: Option<&str>) -> Option<String> {
    let t = tag?.strip_prefix('!')?;
    if t.is_empty() || t.starts_with('!') || t.contains(':') {
        return None;
    }
    Some(match t {
        "Ref" | "Condition" => t.to_string(),
        _ => format!("Fn::{t}"),
    })
}

/// A `{Ref: …}` / `{"Fn::X": …}` long form: the function and its argument.
fn long_form(n: &Node) -> Option<(&str, &Node)> {
    match &n.kind {
        NodeKind::Map(entries) if entries.len() == 1 => {
            let (k, v) = &entries[0];
            let k = k.as_scalar()?;
            (k == "Ref" || k == "Condition" || k.starts_with("Fn::")).then_some((k, v))
        }
        _ => None,
    }
}

/// The argument of an intrinsic: the tagged node itself (short form: its tag is the function)
/// or the value of the long form's key.
#[derive(Clone, Copy)]
enum Arg<'n> {
    Untagged(&'n Node),
    Node(&'n Node),
}

impl<'n> Arg<'n> {
    fn node(self) -> &'n Node {
        match self {
            Arg::Untagged(n) | Arg::Node(n) => n,
        }
    }
    /// The literal list items, when the argument is written as a list.
    fn items(self) -> Option<&'n [Node]> {
        if let Arg::Node(n) = self
            && (n.tag.is_some() || long_form(n).is_some())
        {
            return None;
        }
        match &self.node().kind {
            NodeKind::Seq(items) => Some(items),
            _ => None,
        }
    }
}

impl<'s> Template<'s> {
    pub fn new(source: &'s str, root: &'s Node, user: &'s Params, scalars: Scalars) -> Self {
        let mut t = Template {
            source,
            scalars,
            user,
            params: BTreeMap::new(),
            mappings: map_get(root, "Mappings"),
            conditions: HashMap::new(),
            resources: Vec::new(),
            cond_cache: HashMap::new(),
            cond_stack: Vec::new(),
            quiet: 0,
            follow: 0,
            unresolved: Vec::new(),
            diags: Vec::new(),
        };
        if let Some(NodeKind::Map(entries)) = map_get(root, "Parameters").map(|p| &p.kind) {
            for (k, v) in entries {
                let list = map_get(v, "Type").and_then(Node::as_scalar).is_some_and(|t| t == "CommaDelimitedList" || t.starts_with("List<"));
                if let Some(name) = k.as_scalar() {
                    t.params.insert(name, Param { default: map_get(v, "Default"), list });
                }
            }
        }
        if let Some(NodeKind::Map(entries)) = map_get(root, "Conditions").map(|p| &p.kind) {
            for (k, v) in entries {
                if let Some(name) = k.as_scalar() {
                    t.conditions.insert(name, v);
                }
            }
        }
        if let Some(NodeKind::Map(entries)) = map_get(root, "Resources").map(|p| &p.kind) {
            for (k, v) in entries {
                if let (Some(id), Some(ty)) = (k.as_scalar(), map_get(v, "Type").and_then(Node::as_scalar)) {
                    t.resources.push((id, ty, v, k.span));
                }
            }
        }
        t
    }

    fn error(&mut self, code: &'static str, msg: String, span: Span) -> Val {
        self.diags.push(Diagnostic::error(code, msg, span));
        Val::Null(span)
    }

    /// A value kiln cannot know offline: the user's `--param` for it, else a placeholder.
    fn need(&mut self, param: &str, intrinsic: String, span: Span, why: &str) -> Val {
        if let Some(v) = self.user.get(param) {
            return Val::Str(Text::new(v.to_string(), span));
        }
        self.placeholder(vec![param.to_string()], intrinsic, span, why)
    }

    fn placeholder(&mut self, params: Vec<String>, intrinsic: String, span: Span, why: &str) -> Val {
        if self.quiet == 0 && !self.unresolved.iter().any(|u| u.span == span && u.params == params) {
            self.unresolved.push(Unresolved { params: params.clone(), intrinsic, span, why: why.to_string() });
        }
        let text = params.iter().map(|p| format!("${{{p}}}")).collect::<String>();
        Val::Str(Text { value: text, span, needs: params })
    }

    /// Evaluate a node into a value (the entry point for the pipeline's `Properties`).
    pub fn value(&mut self, n: &Node) -> Val {
        match self.eval(n) {
            Ev::V(v) => v,
            Ev::NoValue => Val::Null(n.span),
        }
    }

    fn eval(&mut self, n: &Node) -> Ev {
        if let Some(name) = short_form(n.tag.as_deref()) {
            return self.call(&name, Arg::Untagged(n), tag_span(self.source, n));
        }
        self.eval_untagged(n)
    }

    fn eval_arg(&mut self, a: Arg) -> Ev {
        match a {
            Arg::Untagged(n) => self.eval_untagged(n),
            Arg::Node(n) => self.eval(n),
        }
    }

    fn eval_untagged(&mut self, n: &Node) -> Ev {
        if let Some((name, arg)) = long_form(n) {
            return self.call(name, Arg::Node(arg), n.span);
        }
        Ev::V(match &n.kind {
            _ if n.is_null() => Val::Null(n.span),
            NodeKind::Scalar { value, plain } => Val::Str(Text::new(scalar_text(value, *plain, self.scalars), n.span)),
            NodeKind::Seq(items) => Val::Seq(
                items
                    .iter()
                    .filter_map(|i| match self.eval(i) {
                        Ev::V(v) => Some(v),
                        Ev::NoValue => None,
                    })
                    .collect(),
                n.span,
            ),
            NodeKind::Map(entries) => {
                let mut out = Vec::new();
                for (k, v) in entries {
                    if let Ev::V(v) = self.eval(v) {
                        out.push((Text::new(k.as_scalar().unwrap_or_default().to_string(), k.span), v));
                    }
                }
                Val::Map(out, n.span)
            }
        })
    }

    /// The argument as text (a string, or a function that gives one).
    fn text_arg(&mut self, a: Arg, what: &str, span: Span) -> Option<Text> {
        match self.eval_arg(a) {
            Ev::V(Val::Str(t)) => Some(t),
            Ev::V(v) => {
                self.error("E2011", format!("{what} must be a string, found {}", v.describe()), span);
                None
            }
            Ev::NoValue => None,
        }
    }

    /// The argument as a list of values (a literal list, or a function that gives one).
    fn list_arg(&mut self, a: Arg) -> Result<Vec<Val>, Val> {
        match self.eval_arg(a) {
            Ev::V(Val::Seq(items, _)) => Ok(items),
            Ev::V(v @ Val::Str(_)) if !v.needs().is_empty() => Err(v),
            Ev::V(v) => Err(v),
            Ev::NoValue => Ok(Vec::new()),
        }
    }

    fn call(&mut self, name: &str, arg: Arg, span: Span) -> Ev {
        let shown = |name: &str| name.strip_prefix("Fn::").map_or_else(|| format!("!{name}"), |s| format!("!{s}"));
        let v = match name {
            "Ref" => return self.reference(arg, span),
            "Fn::GetAtt" => self.get_att(arg, span),
            "Fn::Sub" => self.sub(arg, span),
            "Fn::Join" => self.join(arg, span),
            "Fn::Select" => self.select(arg, span),
            "Fn::Split" => self.split(arg, span),
            "Fn::If" => return self.fn_if(arg, span),
            "Fn::FindInMap" => self.find_in_map(arg, span),
            "Fn::ImportValue" => match self.text_arg(arg, "the export name of !ImportValue", span) {
                Some(t) if t.needs.is_empty() => self.need(&t.value, format!("!ImportValue {}", t.value), span, "another stack's export, known only in the account"),
                Some(t) => Val::Str(Text { span, ..t }),
                None => Val::Null(span),
            },
            "Fn::Base64" => match self.text_arg(arg, "the argument of !Base64", span) {
                Some(t) if t.needs.is_empty() => Val::Str(Text::new(base64::engine::general_purpose::STANDARD.encode(t.value), span)),
                Some(t) => Val::Str(t),
                None => Val::Null(span),
            },
            "Fn::GetAZs" => match self.user.get("Fn::GetAZs") {
                Some(v) => Val::Seq(v.split(',').map(|s| Val::Str(Text::new(s.trim().to_string(), span))).collect(), span),
                None => self.placeholder(vec!["Fn::GetAZs".into()], "!GetAZs".into(), span, "the Region's Availability Zones, known only in the account (comma-separated)"),
            },
            "Fn::Equals" | "Fn::Not" | "Fn::And" | "Fn::Or" | "Condition" => match self.cond_expr(name, arg, span) {
                Ok(b) => Val::Str(Text::new(b.to_string(), span)),
                Err(params) => self.placeholder(params, shown(name), span, "a condition over values not given"),
            },
            other => {
                let what = format!("{} (kiln does not evaluate it offline; pass its result)", shown(other));
                self.need(other, shown(other), span, &what)
            }
        };
        Ev::V(v)
    }

    fn reference(&mut self, arg: Arg, span: Span) -> Ev {
        let Some(name) = arg.node().as_scalar().map(str::to_string) else {
            return Ev::V(self.error("E2011", "!Ref takes the name of a parameter or resource".into(), span));
        };
        if name == "AWS::NoValue" {
            return Ev::NoValue;
        }
        if let Some(v) = self.user.get(&name) {
            let list = self.params.get(name.as_str()).is_some_and(|p| p.list);
            return Ev::V(self.param_value(v, list, span));
        }
        if let Some(p) = self.params.get(name.as_str()) {
            let (default, list) = (p.default, p.list);
            return Ev::V(match default {
                // A Default is a literal (CloudFormation evaluates no function there).
                Some(d) => match &d.kind {
                    NodeKind::Scalar { value, plain } => self.param_value(&scalar_text(value, *plain, self.scalars), list, span),
                    NodeKind::Seq(items) => {
                        let joined = items.iter().filter_map(Node::as_scalar).collect::<Vec<_>>().join(",");
                        self.param_value(&joined, list, span)
                    }
                    NodeKind::Map(_) => self.error("E2011", format!("the Default of parameter {name} must be a string"), d.span),
                },
                None => self.need(&name, format!("!Ref {name}"), span, "a template parameter without a Default"),
            });
        }
        if PSEUDO.contains(&name.as_str()) {
            let region = self.user.get("AWS::Region").unwrap_or_default();
            let partition = if region.starts_with("cn-") {
                "aws-cn"
            } else if region.starts_with("us-gov-") {
                "aws-us-gov"
            } else {
                "aws"
            };
            return Ev::V(match name.as_str() {
                "AWS::Partition" => Val::Str(Text::new(partition.into(), span)),
                "AWS::URLSuffix" => Val::Str(Text::new(if partition == "aws-cn" { "amazonaws.com.cn" } else { "amazonaws.com" }.into(), span)),
                _ => self.need(&name, format!("!Ref {name}"), span, "a pseudo parameter, known only where the stack is created"),
            });
        }
        let resource = self.resources.iter().find(|(id, ..)| *id == name).map(|(_, ty, n, _)| (*ty, *n));
        Ev::V(match resource {
            Some((ty, node)) => {
                let prop = REF_IS_NAME.iter().find(|(t, _)| *t == ty).map(|(_, p)| *p);
                match prop.and_then(|p| map_get(node, "Properties").and_then(|props| map_get(props, p))) {
                    Some(_) if self.follow >= MAX_FOLLOW => self.error("E2016", format!("!Ref {name}: resources refer to each other's names in a cycle"), span),
                    Some(n) => {
                        self.follow += 1;
                        let v = self.value(n);
                        self.follow -= 1;
                        v
                    }
                    None => self.need(&name, format!("!Ref {name}"), span, &format!("the physical id of resource {name} ({ty}), known only once the stack exists")),
                }
            }
            None => self.error("E2012", format!("!Ref {name}: no parameter, pseudo parameter or resource of that name in the template"), span),
        })
    }

    fn param_value(&self, v: &str, list: bool, span: Span) -> Val {
        if list {
            Val::Seq(v.split(',').map(|s| Val::Str(Text::new(s.to_string(), span))).collect(), span)
        } else {
            Val::Str(Text::new(v.to_string(), span))
        }
    }

    fn get_att(&mut self, arg: Arg, span: Span) -> Val {
        let (res, attr) = match (arg.items(), arg.node().as_scalar()) {
            (Some([r, a]), _) => {
                let attr = match self.eval(a) {
                    Ev::V(Val::Str(t)) => t.value,
                    _ => String::new(),
                };
                (r.as_scalar().unwrap_or_default().to_string(), attr)
            }
            (_, Some(s)) => match s.split_once('.') {
                Some((r, a)) => (r.to_string(), a.to_string()),
                None => (s.to_string(), String::new()),
            },
            _ => (String::new(), String::new()),
        };
        if res.is_empty() || attr.is_empty() {
            return self.error("E2011", "!GetAtt takes `Resource.Attribute` or [Resource, Attribute]".into(), span);
        }
        let param = format!("{res}.{attr}");
        if self.user.get(&param).is_none()
            && let Some((_, ty, node, _)) = self.resources.iter().find(|(id, ..)| *id == res)
            && let Some((_, _, prop)) = ATTR_IS_PROPERTY.iter().find(|(t, a, _)| t == ty && *a == attr)
            && let Some(n) = map_get(node, "Properties").and_then(|p| map_get(p, prop))
            && self.follow < MAX_FOLLOW
        {
            self.follow += 1;
            let v = self.value(n);
            self.follow -= 1;
            return v;
        }
        self.need(&param, format!("!GetAtt {param}"), span, "a resource attribute, known only once the stack exists")
    }

    fn sub(&mut self, arg: Arg, span: Span) -> Val {
        let (template, vars) = match arg.items() {
            Some([t, vars]) => (t, Some(vars)),
            Some(_) => return self.error("E2011", "!Sub takes a string, or [string, {Name: value}]".into(), span),
            None => (arg.node(), None),
        };
        let Some(text) = template.as_scalar() else {
            return self.error("E2011", "the string of !Sub must be a literal string".into(), span);
        };
        let mut out = String::new();
        let mut needs: Vec<String> = Vec::new();
        let mut rest = text;
        while let Some(i) = rest.find("${") {
            out.push_str(&rest[..i]);
            let after = &rest[i + 2..];
            let Some(end) = after.find('}') else {
                out.push_str(&rest[i..]);
                rest = "";
                break;
            };
            let name = &after[..end];
            rest = &after[end + 1..];
            if let Some(lit) = name.strip_prefix('!') {
                out.push_str("${");
                out.push_str(lit);
                out.push('}');
                continue;
            }
            let name = name.trim();
            let value = match vars.and_then(|v| map_get(v, name)) {
                Some(n) => self.value(n),
                None if name.contains('.') && !name.starts_with("AWS::") => {
                    let (r, a) = name.split_once('.').unwrap_or((name, ""));
                    let node = Node { kind: NodeKind::Seq(vec![scalar(r, span), scalar(a, span)]), span, tag: None };
                    self.get_att(Arg::Node(&node), span)
                }
                None => {
                    let node = scalar(name, span);
                    match self.reference(Arg::Node(&node), span) {
                        Ev::V(v) => v,
                        Ev::NoValue => Val::Str(Text::new(String::new(), span)),
                    }
                }
            };
            match value {
                Val::Str(t) => {
                    out.push_str(&t.value);
                    needs.extend(t.needs);
                }
                other => {
                    self.error("E2011", format!("`${{{name}}}` in !Sub must be a string, found {}", other.describe()), span);
                }
            }
        }
        out.push_str(rest);
        needs.dedup();
        Val::Str(Text { value: out, span, needs })
    }

    fn join(&mut self, arg: Arg, span: Span) -> Val {
        let Some([delim, list]) = arg.items() else {
            return self.error("E2011", "!Join takes [delimiter, [values…]]".into(), span);
        };
        let delim = delim.as_scalar().unwrap_or_default().to_string();
        match self.list_arg(Arg::Node(list)) {
            Ok(items) => {
                let mut parts = Vec::new();
                let mut needs = Vec::new();
                for item in items {
                    match item {
                        Val::Str(t) => {
                            parts.push(t.value);
                            needs.extend(t.needs);
                        }
                        other => {
                            self.error("E2011", format!("the values of !Join must be strings, found {}", other.describe()), other.span());
                        }
                    }
                }
                Val::Str(Text { value: parts.join(&delim), span, needs })
            }
            Err(v) if !v.needs().is_empty() => Val::Str(Text { span, ..into_text(v) }),
            Err(v) => self.error("E2011", format!("!Join needs a list of values, found {}", v.describe()), span),
        }
    }

    fn select(&mut self, arg: Arg, span: Span) -> Val {
        let Some([index, list]) = arg.items() else {
            return self.error("E2011", "!Select takes [index, [values…]]".into(), span);
        };
        let index = match self.eval(index) {
            Ev::V(Val::Str(t)) if t.needs.is_empty() => t.value.trim().parse::<usize>().ok(),
            Ev::V(v) if !v.needs().is_empty() => return v,
            _ => None,
        };
        let Some(index) = index else {
            return self.error("E2011", "the index of !Select must be a whole number".into(), span);
        };
        match self.list_arg(Arg::Node(list)) {
            Ok(items) => match items.into_iter().nth(index) {
                Some(v) => v,
                None => self.error("E2013", format!("!Select index {index} is past the end of the list"), span),
            },
            Err(v) if !v.needs().is_empty() => Val::Str(Text { span, ..into_text(v) }),
            Err(v) => self.error("E2011", format!("!Select needs a list, found {}", v.describe()), span),
        }
    }

    fn split(&mut self, arg: Arg, span: Span) -> Val {
        let Some([delim, text]) = arg.items() else {
            return self.error("E2011", "!Split takes [delimiter, string]".into(), span);
        };
        let delim = delim.as_scalar().unwrap_or_default().to_string();
        match self.text_arg(Arg::Node(text), "the string of !Split", span) {
            Some(t) if t.needs.is_empty() && !delim.is_empty() => Val::Seq(t.value.split(delim.as_str()).map(|s| Val::Str(Text::new(s.to_string(), span))).collect(), span),
            Some(t) => Val::Str(t),
            None => Val::Null(span),
        }
    }

    fn find_in_map(&mut self, arg: Arg, span: Span) -> Val {
        let items = arg.items().unwrap_or_default();
        if items.len() < 3 {
            return self.error("E2011", "!FindInMap takes [MapName, TopLevelKey, SecondLevelKey]".into(), span);
        }
        let mut keys = Vec::new();
        for item in &items[..3] {
            match self.eval(item) {
                Ev::V(Val::Str(t)) if t.needs.is_empty() => keys.push(t.value),
                Ev::V(v) if !v.needs().is_empty() => return Val::Str(Text { span, ..into_text(v) }),
                _ => return self.error("E2011", "the keys of !FindInMap must be strings".into(), span),
            }
        }
        let found = self.mappings.and_then(|m| map_get(m, &keys[0])).and_then(|m| map_get(m, &keys[1])).and_then(|m| map_get(m, &keys[2]));
        match found {
            Some(n) => self.value(n),
            None => match items.get(3).and_then(|d| map_get(d, "DefaultValue")) {
                Some(d) => self.value(d),
                None => self.error("E2014", format!("!FindInMap: Mappings has no {} → {} → {}", keys[0], keys[1], keys[2]), span),
            },
        }
    }

    fn fn_if(&mut self, arg: Arg, span: Span) -> Ev {
        let Some([cond, then, other]) = arg.items() else {
            return Ev::V(self.error("E2011", "!If takes [ConditionName, value if true, value if false]".into(), span));
        };
        let Some(name) = cond.as_scalar() else {
            return Ev::V(self.error("E2011", "the first item of !If is a condition's name".into(), span));
        };
        match self.condition(name, cond.span) {
            Ok(true) => self.eval(then),
            Ok(false) => self.eval(other),
            Err(params) => {
                let why = format!("the condition `{name}` depends on values not given");
                Ev::V(self.placeholder(params, format!("!If [{name}, …]"), span, &why))
            }
        }
    }
}

fn scalar(s: &str, span: Span) -> Node {
    Node { kind: NodeKind::Scalar { value: s.to_string(), plain: true }, span, tag: None }
}

fn into_text(v: Val) -> Text {
    match v {
        Val::Str(t) => t,
        other => Text::new(String::new(), other.span()),
    }
}

/// A value without positions, for `Fn::Equals`.
fn strip(v: &Val) -> serde_json::Value {
    match v {
        Val::Str(t) => serde_json::Value::String(t.value.clone()),
        Val::Null(_) => serde_json::Value::Null,
        Val::Seq(items, _) => serde_json::Value::Array(items.iter().map(strip).collect()),
        Val::Map(entries, _) => serde_json::Value::Object(entries.iter().map(|(k, v)| (k.value.clone(), strip(v))).collect()),
    }
}
