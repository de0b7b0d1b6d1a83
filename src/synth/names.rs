//! First and last names and time zones of each language's customers: real diacritics in the names
//! the emails greet, ASCII forms for the email addresses.

use chrono_tz::Tz;

use crate::bookings::Locale;

/// Names and time zones of a language's customers.
pub(super) struct Names {
    /// (as written, ASCII for the email)
    pub(super) first: &'static [(&'static str, &'static str)],
    /// ASCII, for the email only.
    pub(super) last: &'static [&'static str],
    /// Where speakers of the language live, weighted.
    pub(super) zones: &'static [(Tz, u32)],
}

impl Names {
    /// The names of `locale`'s customers.
    pub(super) fn of(locale: Locale) -> &'static Names {
        use chrono_tz::{America, Asia, Atlantic, Australia, Europe};
        match locale {
            Locale::En => &Names {
                first: &[
                    ("Zoë", "zoe"),
                    ("Oliver", "oliver"),
                    ("Amelia", "amelia"),
                    ("Harry", "harry"),
                    ("Chloë", "chloe"),
                    ("James", "james"),
                    ("Olivia", "olivia"),
                    ("Noah", "noah"),
                    ("Renée", "renee"),
                    ("Liam", "liam"),
                    ("Ava", "ava"),
                    ("Seán", "sean"),
                    ("Isla", "isla"),
                    ("Siobhán", "siobhan"),
                    ("Grace", "grace"),
                    ("Ethan", "ethan"),
                ],
                last: &[
                    "hartley", "smith", "johnson", "williams", "brown", "taylor", "davies",
                    "evans", "wilson", "thompson", "obrien", "murphy", "walker", "robinson",
                    "clarke", "hughes",
                ],
                zones: &[
                    (Europe::London, 35),
                    (America::New_York, 20),
                    (America::Los_Angeles, 12),
                    (America::Chicago, 8),
                    (Australia::Sydney, 8),
                    (America::Toronto, 6),
                    (Australia::Melbourne, 4),
                    (Asia::Singapore, 4),
                    (Europe::Dublin, 3),
                ],
            },
            Locale::Nl => &Names {
                first: &[
                    ("Fenna", "fenna"),
                    ("Daan", "daan"),
                    ("Sanne", "sanne"),
                    ("Joëlle", "joelle"),
                    ("Bram", "bram"),
                    ("Anouk", "anouk"),
                    ("Thijs", "thijs"),
                    ("Chloë", "chloe"),
                    ("Sem", "sem"),
                    ("Lotte", "lotte"),
                    ("Ruben", "ruben"),
                    ("Femke", "femke"),
                    ("Jeroen", "jeroen"),
                    ("Maartje", "maartje"),
                    ("Gijs", "gijs"),
                    ("Daniëlle", "danielle"),
                ],
                last: &[
                    "devries",
                    "jansen",
                    "vandenberg",
                    "bakker",
                    "visser",
                    "smit",
                    "meijer",
                    "deboer",
                    "mulder",
                    "dejong",
                    "bos",
                    "vos",
                    "peters",
                    "hendriks",
                    "vandijk",
                    "dekker",
                ],
                zones: &[(Europe::Amsterdam, 85), (Europe::Brussels, 15)],
            },
            Locale::De => &Names {
                first: &[
                    ("Jürgen", "juergen"),
                    ("Jörg", "joerg"),
                    ("Lena", "lena"),
                    ("Lukas", "lukas"),
                    ("Mia", "mia"),
                    ("Felix", "felix"),
                    ("Hannah", "hannah"),
                    ("Jonas", "jonas"),
                    ("Björn", "bjoern"),
                    ("Käthe", "kaethe"),
                    ("Leonie", "leonie"),
                    ("Maximilian", "maximilian"),
                    ("Anja", "anja"),
                    ("Tobias", "tobias"),
                    ("Özlem", "oezlem"),
                    ("Sören", "soeren"),
                ],
                last: &[
                    "mueller",
                    "schmidt",
                    "schneider",
                    "fischer",
                    "weber",
                    "meyer",
                    "wagner",
                    "becker",
                    "schulz",
                    "hoffmann",
                    "schaefer",
                    "koch",
                    "bauer",
                    "richter",
                    "klein",
                    "gross",
                ],
                zones: &[
                    (Europe::Berlin, 70),
                    (Europe::Vienna, 15),
                    (Europe::Zurich, 15),
                ],
            },
            Locale::Fr => &Names {
                first: &[
                    ("Émilie", "emilie"),
                    ("Loïc", "loic"),
                    ("Hélène", "helene"),
                    ("Théo", "theo"),
                    ("Léa", "lea"),
                    ("Chloé", "chloe"),
                    ("François", "francois"),
                    ("Amélie", "amelie"),
                    ("Jérôme", "jerome"),
                    ("Inès", "ines"),
                    ("Gaëlle", "gaelle"),
                    ("Raphaël", "raphael"),
                    ("Camille", "camille"),
                    ("Lucas", "lucas"),
                    ("Manon", "manon"),
                    ("Hugo", "hugo"),
                ],
                last: &[
                    "rousseau", "garnier", "martin", "bernard", "dubois", "thomas", "robert",
                    "richard", "petit", "durand", "leroy", "moreau", "lefevre", "girard", "bonnet",
                    "mercier",
                ],
                zones: &[
                    (Europe::Paris, 85),
                    (Europe::Brussels, 8),
                    (Europe::Zurich, 7),
                ],
            },
            Locale::Es => &Names {
                first: &[
                    ("Iñigo", "inigo"),
                    ("Begoña", "begona"),
                    ("José", "jose"),
                    ("María", "maria"),
                    ("Lucía", "lucia"),
                    ("Martín", "martin"),
                    ("Sofía", "sofia"),
                    ("Álvaro", "alvaro"),
                    ("Inés", "ines"),
                    ("Jesús", "jesus"),
                    ("Ramón", "ramon"),
                    ("Nuria", "nuria"),
                    ("Pablo", "pablo"),
                    ("Carmen", "carmen"),
                    ("Andrés", "andres"),
                    ("Mónica", "monica"),
                ],
                last: &[
                    "garcia",
                    "fernandez",
                    "gonzalez",
                    "rodriguez",
                    "lopez",
                    "martinez",
                    "sanchez",
                    "perez",
                    "gomez",
                    "ruiz",
                    "diaz",
                    "munoz",
                    "alvarez",
                    "romero",
                    "navarro",
                    "etxeberria",
                ],
                zones: &[
                    (Europe::Madrid, 55),
                    (America::Argentina::Buenos_Aires, 15),
                    (America::Mexico_City, 15),
                    (America::Bogota, 8),
                    (Atlantic::Canary, 7),
                ],
            },
            Locale::It => &Names {
                first: &[
                    ("Niccolò", "niccolo"),
                    ("Giulia", "giulia"),
                    ("Lorenzo", "lorenzo"),
                    ("Chiara", "chiara"),
                    ("Matteo", "matteo"),
                    ("Francesca", "francesca"),
                    ("Alessandro", "alessandro"),
                    ("Sofia", "sofia"),
                    ("Luca", "luca"),
                    ("Martina", "martina"),
                    ("Andrea", "andrea"),
                    ("Federica", "federica"),
                    ("Giovanni", "giovanni"),
                    ("Elena", "elena"),
                    ("Beatrice", "beatrice"),
                    ("Nicolò", "nicolo"),
                ],
                last: &[
                    "ferrante", "rossi", "russo", "ferrari", "esposito", "bianchi", "romano",
                    "colombo", "ricci", "marino", "greco", "bruno", "gallo", "conti", "deluca",
                    "mancini",
                ],
                zones: &[(Europe::Rome, 90), (Europe::Zurich, 10)],
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_language_has_diacritics_in_names_and_plain_ascii_in_addresses() {
        for locale in Locale::ALL {
            let n = Names::of(locale);
            assert!(
                n.first.iter().any(|(shown, _)| !shown.is_ascii()),
                "{locale:?}"
            );
            for part in n.first.iter().map(|(_, ascii)| ascii).chain(n.last) {
                assert!(
                    !part.is_empty() && part.bytes().all(|b| b.is_ascii_lowercase()),
                    "{part:?}"
                );
            }
            assert!(n.zones.iter().all(|(_, w)| *w > 0));
        }
    }
}
