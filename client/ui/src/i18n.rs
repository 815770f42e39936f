//! Every string the app shows, from Project Fluent files: one per locale
//! in `locales/`, compiled into the binary. English is complete by
//! definition; a test fails if another locale lacks or adds a key, and if a
//! key is used nowhere.

use std::collections::HashMap;

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};
use unic_langid::LanguageIdentifier;

/// The locales the app speaks: (code, name in that language, Fluent
/// source). English first: it is the default and the reference.
pub const LOCALES: &[(&str, &str, &str)] = &[
    ("en", "English", include_str!("../locales/en.ftl")),
    ("th", "ไทย", include_str!("../locales/th.ftl")),
    ("id", "Bahasa Indonesia", include_str!("../locales/id.ftl")),
    ("ms", "Bahasa Melayu", include_str!("../locales/ms.ftl")),
    ("vi", "Tiếng Việt", include_str!("../locales/vi.ftl")),
    ("fil", "Filipino", include_str!("../locales/fil.ftl")),
    ("km", "ខ្មែរ", include_str!("../locales/km.ftl")),
    ("lo", "ລາວ", include_str!("../locales/lo.ftl")),
    ("my", "မြန်မာ", include_str!("../locales/my.ftl")),
];

/// The default locale.
pub const DEFAULT_LOCALE: &str = "en";

/// Why the translations could not be loaded (a build with a broken `.ftl`
/// file; the tests catch it first).
#[derive(Debug, thiserror::Error)]
pub enum I18nError {
    /// A file does not parse.
    #[error("the {locale} translations do not parse: {detail}")]
    Parse {
        /// The locale.
        locale: &'static str,
        /// The parser's complaint.
        detail: String,
    },
    /// A locale code is not a language identifier.
    #[error("{0} is not a language identifier")]
    Locale(&'static str),
}

/// The bundles of every locale.
pub struct I18n {
    bundles: HashMap<&'static str, FluentBundle<FluentResource>>,
}

impl std::fmt::Debug for I18n {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("I18n").finish_non_exhaustive()
    }
}

impl I18n {
    /// Load every locale.
    pub fn load() -> Result<I18n, I18nError> {
        let mut bundles = HashMap::new();
        for &(code, _, source) in LOCALES {
            let res = FluentResource::try_new(source.to_owned()).map_err(|(_, errs)| {
                I18nError::Parse {
                    locale: code,
                    detail: format!("{errs:?}"),
                }
            })?;
            let lang: LanguageIdentifier = code.parse().map_err(|_| I18nError::Locale(code))?;
            let mut bundle = FluentBundle::new_concurrent(vec![lang]);
            // Plain text in HTML: no invisible isolation marks around
            // arguments (no locale here is written right to left).
            bundle.set_use_isolating(false);
            bundle.add_resource(res).map_err(|errs| I18nError::Parse {
                locale: code,
                detail: format!("{errs:?}"),
            })?;
            bundles.insert(code, bundle);
        }
        Ok(I18n { bundles })
    }

    /// The translator for `locale` (English if unknown).
    pub fn tr(&self, locale: &str) -> Tr<'_> {
        let code = known_locale(locale).unwrap_or(DEFAULT_LOCALE);
        Tr {
            code,
            bundle: self.bundles.get(code),
            fallback: self.bundles.get(DEFAULT_LOCALE),
        }
    }
}

/// `locale` if the app speaks it.
pub fn known_locale(locale: &str) -> Option<&'static str> {
    LOCALES
        .iter()
        .find(|(c, _, _)| *c == locale)
        .map(|(c, _, _)| *c)
}

/// The strings of one locale, as templates use them.
#[derive(Clone, Copy)]
pub struct Tr<'a> {
    code: &'static str,
    bundle: Option<&'a FluentBundle<FluentResource>>,
    fallback: Option<&'a FluentBundle<FluentResource>>,
}

impl std::fmt::Debug for Tr<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tr").field("code", &self.code).finish()
    }
}

impl Tr<'_> {
    /// The locale code (for `<html lang>`).
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The message `key`.
    pub fn t(&self, key: &str) -> String {
        self.format(key, None)
    }

    /// The message `key` with one argument.
    pub fn t1(&self, key: &str, name: &str, value: &str) -> String {
        let mut args = FluentArgs::new();
        args.set(name, FluentValue::from(value));
        self.format(key, Some(&args))
    }

    /// The message `key` with a number.
    pub fn tn(&self, key: &str, name: &str, value: usize) -> String {
        let mut args = FluentArgs::new();
        args.set(name, FluentValue::from(value));
        self.format(key, Some(&args))
    }

    /// The message `key` with named arguments.
    pub fn args(&self, key: &str, values: &[(&str, &str)]) -> String {
        let mut args = FluentArgs::new();
        for (name, value) in values {
            args.set(*name, FluentValue::from(*value));
        }
        self.format(key, Some(&args))
    }

    fn format(&self, key: &str, args: Option<&FluentArgs<'_>>) -> String {
        for bundle in [self.bundle, self.fallback].into_iter().flatten() {
            if let Some(pattern) = bundle.get_message(key).and_then(|m| m.value()) {
                let mut errors = Vec::new();
                let text = bundle.format_pattern(pattern, args, &mut errors);
                return text.into_owned();
            }
        }
        // A missing key is a bug the tests catch; show the key rather than
        // nothing.
        key.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};

    fn keys(source: &str) -> BTreeSet<String> {
        let res = FluentResource::try_new(source.to_owned()).expect("parses");
        res.entries()
            .filter_map(|e| match e {
                fluent_syntax::ast::Entry::Message(m) => Some(m.id.name.to_owned()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn every_locale_loads() {
        let i18n = I18n::load().expect("every .ftl file parses");
        for &(code, _, _) in LOCALES {
            assert_eq!(i18n.tr(code).code(), code);
        }
        assert_eq!(i18n.tr("xx").code(), "en");
    }

    #[test]
    fn every_locale_has_exactly_the_english_keys() {
        let en = keys(LOCALES[0].2);
        assert!(!en.is_empty());
        for &(code, _, source) in &LOCALES[1..] {
            let k = keys(source);
            let missing: Vec<_> = en.difference(&k).collect();
            let extra: Vec<_> = k.difference(&en).collect();
            assert!(
                missing.is_empty() && extra.is_empty(),
                "{code}.ftl: missing {missing:?}, not in en.ftl {extra:?}"
            );
        }
    }

    #[test]
    fn every_key_is_used_and_every_used_key_exists() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut code = String::new();
        for sub in ["templates", "src"] {
            for entry in std::fs::read_dir(dir.join(sub)).expect("read the crate") {
                let path = entry.expect("a directory entry").path();
                if path.file_name().is_some_and(|n| n != "i18n.rs") {
                    code.push_str(&std::fs::read_to_string(&path).expect("read a source file"));
                }
            }
        }
        let en = keys(LOCALES[0].2);
        let unused: Vec<_> = en
            .iter()
            .filter(|k| !code.contains(&format!("\"{k}\"")))
            .collect();
        assert!(unused.is_empty(), "keys used nowhere: {unused:?}");
        // Every literal handed to t/t1/tn is a key of en.ftl.
        let mut unknown = Vec::new();
        for call in [".t(\"", ".t1(\"", ".tn(\""] {
            for (i, _) in code.match_indices(call) {
                let rest = code.get(i + call.len()..).unwrap_or_default();
                if let Some(end) = rest.find('"') {
                    let key = rest.get(..end).unwrap_or_default();
                    if !en.contains(key) {
                        unknown.push(key.to_owned());
                    }
                }
            }
        }
        assert!(unknown.is_empty(), "keys missing from en.ftl: {unknown:?}");
    }

    /// The variables (`$name`) of every message, attributes included
    /// (as `key.attribute`), wherever they sit in the pattern: in a
    /// placeable, a select expression's selector or any of its variants,
    /// the arguments of a function or a term.
    fn variables(source: &str) -> BTreeMap<String, BTreeSet<String>> {
        use fluent_syntax::ast::{Expression, InlineExpression, Pattern, PatternElement};

        fn inline(e: &InlineExpression<&str>, out: &mut BTreeSet<String>) {
            match e {
                InlineExpression::VariableReference { id } => {
                    out.insert(id.name.to_owned());
                }
                InlineExpression::FunctionReference { arguments, .. }
                | InlineExpression::TermReference {
                    arguments: Some(arguments),
                    ..
                } => {
                    for a in &arguments.positional {
                        inline(a, out);
                    }
                    for a in &arguments.named {
                        inline(&a.value, out);
                    }
                }
                InlineExpression::Placeable { expression } => expr(expression, out),
                InlineExpression::StringLiteral { .. }
                | InlineExpression::NumberLiteral { .. }
                | InlineExpression::MessageReference { .. }
                | InlineExpression::TermReference {
                    arguments: None, ..
                } => {}
            }
        }
        fn expr(e: &Expression<&str>, out: &mut BTreeSet<String>) {
            match e {
                Expression::Select { selector, variants } => {
                    inline(selector, out);
                    for v in variants {
                        pattern(&v.value, out);
                    }
                }
                Expression::Inline(e) => inline(e, out),
            }
        }
        fn pattern(p: &Pattern<&str>, out: &mut BTreeSet<String>) {
            for element in &p.elements {
                if let PatternElement::Placeable { expression } = element {
                    expr(expression, out);
                }
            }
        }

        let resource = fluent_syntax::parser::parse(source).expect("parses");
        let mut all = BTreeMap::new();
        for entry in &resource.body {
            if let fluent_syntax::ast::Entry::Message(m) = entry {
                let mut vars = BTreeSet::new();
                if let Some(value) = &m.value {
                    pattern(value, &mut vars);
                }
                all.insert(m.id.name.to_owned(), vars);
                for a in &m.attributes {
                    let mut vars = BTreeSet::new();
                    pattern(&a.value, &mut vars);
                    all.insert(format!("{}.{}", m.id.name, a.id.name), vars);
                }
            }
        }
        all
    }

    /// The messages of `source` whose variables differ from those of the
    /// same message in `reference` (a missing message is the concern of
    /// the test of keys).
    fn placeables_differ(reference: &str, source: &str) -> Vec<String> {
        let want = variables(reference);
        let got = variables(source);
        want.iter()
            .filter_map(|(key, w)| {
                let g = got.get(key)?;
                (g != w).then(|| format!("{key}: {g:?} where English has {w:?}"))
            })
            .collect()
    }

    #[test]
    fn every_translation_uses_exactly_the_english_variables() {
        // The check itself sees a renamed, a dropped and an added variable,
        // also inside a select expression's variants.
        let en = "a = { $name } wrote\nb = { $count ->\n    [one] one\n   *[other] { $count } by { $name }\n}\nc = Hi\n";
        assert!(placeables_differ(en, en).is_empty());
        let broken = "a = { $nom } wrote\nb = { $count ->\n    [one] one\n   *[other] { $count }\n}\nc = Hi { $name }\n";
        assert_eq!(placeables_differ(en, broken).len(), 3, "{broken}");

        let reference = LOCALES[0].2;
        assert!(variables(reference).values().any(|v| v.len() > 1));
        let mut wrong = Vec::new();
        for &(code, _, source) in &LOCALES[1..] {
            for problem in placeables_differ(reference, source) {
                wrong.push(format!("{code}.ftl {problem}"));
            }
        }
        assert!(
            wrong.is_empty(),
            "translations whose placeables are not those of en.ftl:\n{}",
            wrong.join("\n")
        );
    }

    #[test]
    fn arguments_are_filled_in() {
        let i18n = I18n::load().expect("loads");
        let s = i18n.tr("en").tn("conv-unread", "count", 3);
        assert!(s.contains('3'), "{s}");
        let s = i18n.tr("th").t1("send-failed", "reason", "no route");
        assert!(s.contains("no route"), "{s}");
    }
}
