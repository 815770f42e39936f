//! Dissemination scope: who a holder of a message may forward it to, under
//! FIRST TLP 2.0 and SIENA H2 (onward transmission), given the parties'
//! verified agencies and countries and the originator's consent grants.

use crate::consent::{
    ConsentDecision, ConsentScope, PriorDecision, effective_handling, find_grant, prior_decision,
};
use crate::handling::{Dissemination, Handling, Onward, Party, format_time};
use crate::ids::{DirectoryId, MessageId, Timestamp};

/// Everything about a message the scope check needs besides the two
/// parties. `handling` is the handling the forwarder holds: the original's,
/// or the tightest one in a chain of forwards.
#[derive(Clone, Copy, Debug)]
pub struct ForwardContext<'a> {
    /// The original payload's message id (consents are about it).
    pub message_id: MessageId,
    /// The handling in force at the forwarder.
    pub handling: &'a Handling,
    /// The originator (sender of the original payload).
    pub originator: &'a Party,
    /// The original payload's `recipients` and `resolved` ids.
    pub original_recipients: &'a [DirectoryId],
    /// Verified consent decisions for this message (others are ignored).
    pub grants: &'a [ConsentDecision],
    /// The current time.
    pub now: Timestamp,
}

/// Which rule blocks a forward.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ForwardRule {
    /// TLP:RED: named recipients only.
    Red,
    /// TLP:AMBER+STRICT: the forwarder's own agency only.
    AmberStrict,
    /// TLP:AMBER: own agency and national partners (same country) only.
    Amber,
    /// Onward transmission with consent (SIENA H2): nothing outside the
    /// forwarder's own agency without the originator's grant.
    OnwardWithConsent,
    /// The retention period ended: the content is to be destroyed.
    Expired {
        /// When it ended.
        at: Timestamp,
    },
}

impl ForwardRule {
    /// A stable machine-readable code, for `--json`.
    pub fn code(&self) -> &'static str {
        match self {
            ForwardRule::Red => "tlp-red",
            ForwardRule::AmberStrict => "tlp-amber-strict",
            ForwardRule::Amber => "tlp-amber",
            ForwardRule::OnwardWithConsent => "onward-with-consent",
            ForwardRule::Expired { .. } => "retention-ended",
        }
    }
}

/// A refused forward: which rule blocks it, and how to ask for consent.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.message(&self.message_id))]
pub struct ForwardRefusal {
    /// The rule.
    pub rule: ForwardRule,
    /// The original message.
    pub message_id: MessageId,
    /// Who can consent.
    pub originator: DirectoryId,
    /// Who wanted to forward.
    pub forwarder: Party,
    /// To whom.
    pub recipient: Party,
    /// What the originator said before about this recipient.
    pub prior: PriorDecision,
}

impl ForwardRefusal {
    /// The consent scope that would unlock this forward (`None` when the
    /// retention period ended).
    pub fn needed_scope(&self) -> Option<ConsentScope> {
        match self.rule {
            ForwardRule::Expired { .. } => None,
            _ => Some(ConsentScope::Forward {
                recipients: vec![self.recipient.id.clone()],
            }),
        }
    }

    /// The command that asks the originator for consent, about the
    /// message held under `held` (the original, or a forward of it: the
    /// request goes to the originator either way).
    pub fn consent_command(&self, held: &MessageId) -> Option<String> {
        self.needed_scope().map(|s| {
            format!(
                "liaison consent request {} --scope {} --reason \"...\"",
                held.to_hex(),
                crate::shell::quote(&s.to_text())
            )
        })
    }

    /// The refusal in words, its consent command naming the message as
    /// held under `held`.
    pub fn explain(&self, held: MessageId) -> String {
        self.message(&held)
    }

    fn message(&self, held: &MessageId) -> String {
        let f = &self.forwarder;
        let r = &self.recipient;
        let head = match self.rule {
            ForwardRule::Red => format!(
                "TLP:RED allows sharing only with the named recipients; {} was not one of them.",
                r.id
            ),
            ForwardRule::AmberStrict => format!(
                "TLP:AMBER+STRICT allows sharing only inside {} ({}); {} is {} ({}).",
                f.agency_label(),
                f.country,
                r.id,
                r.agency_label(),
                r.country
            ),
            ForwardRule::Amber => format!(
                "TLP:AMBER allows sharing only inside {} ({}) and with national partners in {}; {} is {} ({}).",
                f.agency_label(),
                f.country,
                f.country,
                r.id,
                r.agency_label(),
                r.country
            ),
            ForwardRule::OnwardWithConsent => format!(
                "The originator requires consent for passing this outside {} ({}) (onward=with-consent); {} is {} ({}).",
                f.agency_label(),
                f.country,
                r.id,
                r.agency_label(),
                r.country
            ),
            ForwardRule::Expired { at } => {
                return format!(
                    "The retention period of this message ended at {}; its content is to be destroyed, not forwarded.",
                    format_time(at)
                );
            }
        };
        let prior = self.prior.sentence(&format!("forwarding to {}", r.id));
        match self.consent_command(held) {
            Some(cmd) => format!(
                "{head}{prior} Ask the originator {}: {cmd}",
                self.originator
            ),
            None => format!("{head}{prior}"),
        }
    }
}

/// Whether `forwarder` may forward the message described by `ctx` to
/// `recipient`, both as verified from the directory.
///
/// In order:
/// 1. the originator may always forward its own message;
/// 2. nothing is forwarded after the retention deadline (grants counted);
/// 3. sending back to the originator or to an original recipient is always
///    allowed;
/// 4. an originator's grant in force for this recipient allows it;
/// 5. otherwise the TLP level and onward code decide:
///    - RED: refused;
///    - AMBER+STRICT: only inside the forwarder's own agency (and country);
///    - AMBER: own agency; national partners (same country) only with
///      `onward=per-tlp`; other countries refused;
///    - GREEN, CLEAR: own agency; anyone else in the network (every party
///      is verified) only with `onward=per-tlp`.
///
/// `onward=with-consent` is the third-party rule: it never blocks sharing
/// inside the forwarder's own agency where the TLP level allows it. (Were
/// it to block every forward outside the original recipients, the default
/// handling of every TLP level would behave as RED.)
pub fn check_forward(
    ctx: &ForwardContext<'_>,
    forwarder: &Party,
    recipient: &Party,
) -> Result<(), Box<ForwardRefusal>> {
    let originator = &ctx.originator.id;
    if &forwarder.id == originator {
        return Ok(());
    }
    let refuse = |rule, prior| {
        Box::new(ForwardRefusal {
            rule,
            message_id: ctx.message_id,
            originator: originator.clone(),
            forwarder: forwarder.clone(),
            recipient: recipient.clone(),
            prior,
        })
    };
    let effective = effective_handling(
        ctx.handling,
        &ctx.message_id,
        originator,
        ctx.grants,
        ctx.now,
    );
    if let Some(at) = effective.retain_until
        && effective.is_expired(ctx.now)
    {
        return Err(refuse(ForwardRule::Expired { at }, PriorDecision::None));
    }
    if &recipient.id == originator || ctx.original_recipients.contains(&recipient.id) {
        return Ok(());
    }
    let needed = ConsentScope::Forward {
        recipients: vec![recipient.id.clone()],
    };
    if find_grant(ctx.grants, &ctx.message_id, originator, &needed, ctx.now).is_some() {
        return Ok(());
    }
    let same_agency = forwarder.same_agency(recipient);
    let same_country = forwarder.country == recipient.country;
    let rule = match (effective.dissemination, effective.onward) {
        (Dissemination::Red, _) => Some(ForwardRule::Red),
        (Dissemination::AmberStrict, _) => (!same_agency).then_some(ForwardRule::AmberStrict),
        (_, _) if same_agency => None,
        (Dissemination::Amber, _) if !same_country => Some(ForwardRule::Amber),
        (_, Onward::WithConsent) => Some(ForwardRule::OnwardWithConsent),
        (_, Onward::PerDissemination) => None,
    };
    match rule {
        None => Ok(()),
        Some(rule) => Err(refuse(
            rule,
            prior_decision(ctx.grants, &ctx.message_id, originator, &needed, ctx.now),
        )),
    }
}

/// [`check_forward`] for several recipients; every refusal is returned.
/// (The refusal is boxed in [`check_forward`] only to keep `Result` small.)
pub fn check_forward_all(
    ctx: &ForwardContext<'_>,
    forwarder: &Party,
    recipients: &[Party],
) -> Result<(), Vec<ForwardRefusal>> {
    let refusals: Vec<ForwardRefusal> = recipients
        .iter()
        .filter_map(|r| check_forward(ctx, forwarder, r).err())
        .map(|b| *b)
        .collect();
    if refusals.is_empty() {
        Ok(())
    } else {
        Err(refusals)
    }
}
