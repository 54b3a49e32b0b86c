//! CVSS v3.1: the specification's check values and Roundup, and a cross-check of every base
//! vector against the RustSec `cvss` crate.

use std::str::FromStr;

use ascend_server::risk::cvss::{BaseMetrics, CvssTable, VECTOR_COUNT, spec_roundup};

fn table_score(vector: &str) -> f64 {
    CvssTable::global()
        .iter()
        .find(|(_, e)| &*e.vector == vector)
        .map(|(_, e)| e.score)
        .unwrap_or_else(|| panic!("{vector} not in the table"))
}

#[test]
fn specification_check_values() {
    for (vector, expected) in [
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 10.0),
        ("CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:U/C:L/I:N/A:N", 4.3),
        ("CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:N/A:N", 5.5),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N", 0.0),
    ] {
        assert_eq!(table_score(vector), expected, "{vector}");
        let parsed = cvss::v3::Vector::from_str(vector).expect("crate parses");
        assert_eq!(parsed.score().value(), expected, "crate agrees on {vector}");
    }
}

#[test]
fn roundup_follows_appendix_a() {
    assert_eq!(spec_roundup(4.0), 4.0);
    assert_eq!(spec_roundup(4.02), 4.1);
    assert_eq!(spec_roundup(4.000_000_1), 4.0); // below 1e-5: float noise, not a new tenth
    assert_eq!(spec_roundup(4.000_01), 4.1);
    assert_eq!(spec_roundup(9.999_9), 10.0);
    assert_eq!(spec_roundup(0.0), 0.0);
    // Where the crate differs: it truncates x·100000 instead of rounding it, so a value a
    // hair above a tenth (400000.6 hundred-thousandths) stays at the tenth for the crate but
    // rounds up for the specification. We report the specification's value.
    assert_eq!(spec_roundup(4.000_006), 4.1);
    assert_eq!(cvss::v3::Score::new(4.000_006).roundup().value(), 4.0);
}

#[test]
fn every_vector_agrees_with_the_cvss_crate() {
    let table = CvssTable::global();
    let mut count = 0;
    let mut differ = Vec::new();
    for (m, e) in table.iter() {
        count += 1;
        assert_eq!(m.vector_string(), &*e.vector);
        let parsed = cvss::v3::Vector::from_str(&e.vector).expect("crate parses our vectors");
        let crate_score = parsed.score().value();
        assert_eq!(crate_score, e.crate_score);
        if (crate_score - e.score).abs() > 1e-9 {
            differ.push(format!(
                "{} spec {} crate {}",
                e.vector, e.score, crate_score
            ));
        }
        assert_eq!(
            e.severity.to_ascii_lowercase(),
            cvss::v3::Score::new(e.score).severity().as_str()
        );
    }
    assert_eq!(count, VECTOR_COUNT);
    // The crate truncates x·100000 where Appendix A rounds it; on the 2592 base vectors this
    // changes no score. Should a new crate version differ, this lists the vectors.
    assert!(differ.is_empty(), "spec and crate differ: {differ:#?}");
}

#[test]
fn indices_are_dense() {
    assert_eq!(BaseMetrics::all().count(), VECTOR_COUNT);
    for (i, m) in BaseMetrics::all().enumerate() {
        assert_eq!(m.index(), i);
    }
}
