//! Handling codes: the restrictions an originator places on the use of what
//! it sends (UN Trafficking in Persons Protocol, Article 10(3)), modelled on
//! Europol SIENA handling codes and FIRST TLP 2.0.
//!
//! A `Handling` travels inside the signed payload, so it cannot be altered
//! without breaking the originator's signature. Every default is the most
//! restrictive choice.
//!
//! This module is the pure model only:
//! - the binary form is the serde shape of [`Handling`] (postcard, inside
//!   the signed payload of the `message` module);
//! - [`Handling::parse_text`] / [`Handling::to_text`]: the text form used by
//!   the CLI (grammar in [`text`](self#text-form));
//! - [`Handling::explain`]: plain-words sentences shown before the content;
//! - [`Handling::loosenings`]: the tightening order a forward must respect;
//!
//! Consent grants that lift a restriction live in the `consent` module,
//! and the forwarding rules that combine both in `scope`.
//!
//! # Text form
//!
//! ```text
//! handling = tlp *( SP field )
//! tlp      = [ "TLP:" ] ( "RED" / "AMBER+STRICT" / "AMBER" / "GREEN" / "CLEAR" )
//! field    = "judicial=" ( "prohibited" / "with-consent" / "permitted" )
//!          / "onward=" ( "with-consent" / "per-tlp" )
//!          / "purpose=" purpose *( "," purpose )
//!          / "protect-victims" [ "=" ( "yes" / "no" ) ]
//!          / "retain=" ( YYYY-MM-DD / YYYY-MM-DDTHH:MM:SS[.mmm]Z )
//!          / "eval=" ( "A" / "B" / "C" / "X" ) ( "1" / "2" / "3" / "4" )
//!          / "conditions=" quoted-string
//! purpose  = Purpose-label / "other:" 1*58( a-z / 0-9 / "-" )   ; see Purpose::ALL
//! ```
//!
//! - The TLP level comes first; fields follow in any order, each at most
//!   once. Keys, TLP labels and code values are case-insensitive on input.
//! - Any value may be double-quoted; inside quotes `\"`, `\\` and `\n` are
//!   the only escapes. `conditions` needs quotes when it contains spaces.
//! - An omitted field takes its most restrictive default: `judicial=prohibited`,
//!   `onward=with-consent`, `protect-victims`, no retention limit, no
//!   evaluation, no conditions. An omitted `purpose` means the purposes agreed
//!   in the conversation (there is no "most restrictive" set of purposes that
//!   still allows any use).
//! - `protect-victims=no` (the non-punishment reminder switched off) is
//!   accepted only with `GREEN` or `CLEAR`: information restricted to named
//!   recipients or agencies is the kind that concerns victims.
//! - Unknown keys, unknown values, repeated keys, repeated purposes and
//!   contradictions are errors that name the offending token; nothing is
//!   silently defaulted.
//!
//! The canonical form written by [`Handling::to_text`] always shows the TLP
//! level, `judicial`, `onward` and `protect-victims`, then `purpose`,
//! `retain`, `eval` and `conditions` when set, in that order:
//!
//! ```text
//! AMBER+STRICT judicial=with-consent onward=with-consent purpose=rescue,investigation protect-victims retain=2027-06-30 eval=B2 conditions="do not contact the suspect"
//! ```

mod explain;
mod model;
mod order;
mod party;
mod text;
mod time;

pub use model::*;
pub use order::Loosening;
pub use party::Party;
pub(crate) use time::{format_time, parse_time};
