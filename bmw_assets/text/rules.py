"""The cleaning rules, as data: each names the page furniture it removes.

Rules run in list order. ``stage="lines"`` rules see the text line by line as the PDF laid
it out (before wrapped lines are joined), so a pattern anchored with ^...$ matches one
printed line. ``stage="paragraphs"`` rules run after paragraphs are rebuilt, when one line
is one paragraph, so ^...$ spans exactly one paragraph. Patterns never use DOTALL: no
rule can reach past the line (or paragraph) where it starts, except the contact rules,
which span a fixed, small number of short lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

RuleStage = Literal["lines", "paragraphs"]


@dataclass(frozen=True)
class CleaningRule:
    """One kind of furniture: every match of ``pattern`` (compiled with ``flags``) is deleted."""

    name: str
    pattern: str
    removes: str
    flags: int = re.MULTILINE
    stage: RuleStage = "lines"
    compiled: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.flags & re.DOTALL:
            raise ValueError(f"rule {self.name!r}: DOTALL lets a match run across paragraphs; use bounded [^\\n] spans")
        object.__setattr__(self, "compiled", re.compile(self.pattern, self.flags))


_I = re.MULTILINE | re.IGNORECASE
_EOL = r"[ ]*(?:\n|\Z)"  # end of a whole line, eating its line break so no blank line is left
_MONTHS = (
    r"(?:January|February|March|April|May|June|July|August|September|October|November|December"
    r"|Januar|Jänner|Februar|März|Mai|Juni|Juli|Oktober|Dezember)"
)
_CONTACT_LABEL = r"(?:Tel(?:\.|ephone|efon)?|Phone|Mobile?|Mobil|Cell|Fax|Telefax|E-?mail|E-Mail)"
_PHONE = r"\+?\(?\d[\d ()/.\-–]{5,24}\d"
_EMAIL = r"[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+"
_URL = r"(?:https?://|www\.)[^\s]+"
_NAME_START = r"(?:(?:Dr|Prof)\.[ ]+)?"
# A contact's phone or e-mail line: "Tel.: +49 89 382-12345, jane.doe@bmw.de", "Tel.:" alone, "jane.doe@bmw.de,".
_CONTACT_DETAIL_LINE = (
    rf"(?:{_CONTACT_LABEL}[ ]*[:.]{{0,2}}[ ]*(?:(?:{_PHONE}|{_EMAIL})[^\n]{{0,80}})?|{_EMAIL}[ ]*,?){_EOL}"
)
_CONTACT_OPENER = (
    r"(?:In case of (?:any )?(?:queries|questions)|If you have any (?:further )?(?:questions|queries)"
    r"|For (?:further|more) (?:questions|information)|In the event of (?:any )?(?:enquiries|queries|questions))"
    r"[^\n.]{0,40}?please contact[ ]*:|Bitte wenden Sie sich bei (?:Rückfragen|Fragen) an[ ]*:"
)

CLEANING_RULES: tuple[CleaningRule, ...] = (
    CleaningRule(
        "consumption_footnote",
        # Line stage on purpose: a footnote without a final period at the foot of a page would
        # otherwise be rebuilt into one paragraph with the body paragraph after the page break.
        r"^[^\n]{0,80}?\b(?:Energy|Fuel|Power|Electric power|Electricity)[ ]+consumption[ ]+(?:\(?weighted\)?[ ]+)?"
        r"combined[ ]*:[ ]*\d(?:[^\n]|\n(?!\n)){0,400}?"
        r"(?:(?:CO2|CO₂)[ ]?(?:efficiency[ ]+)?class(?:es)?[ ]*:?[ ]*[A-G]\+{0,3}(?:[ ]*[-–][ ]*[A-G]\+{0,3})?|g/km)"
        r"(?:\s*\((?:WLTP|NEDC)\))?(?!\s*(?:\((?:WLTP|NEDC)\))?\s*;)[ ]*\.?[ ]*(?:\n|\Z)",
        "consumption footnotes ('BMW iX1 eDrive20: energy consumption combined: 15,4 kWh/100 km (WLTP); CO2 "
        "emissions combined: 0 g/km (WLTP); CO2 class: A'), with or without a final period, over up to four "
        "printed lines, as whole lines",
        _I,
    ),
    CleaningRule(
        "header_line",
        rf"^(?:BMW Group|(?:BMW Group[ ]+)?(?:Corporate Communications|Media Information|Media Release|Press Release"
        rf"|Press Information|Presse-?[ ]?Information|Presseinformation|Konzernkommunikation|Unternehmenskommunikation)"
        rf"(?:[ ]+\d{{2}}/\d{{4}}(?:[ ]+(?:Page|Seite)[ ]*\d{{1,3}})?)?|(?:Strictly[ ]+)?Confidential|Vertraulich){_EOL}",
        "header lines printed on every page: 'BMW Group', 'Corporate Communications', 'Media Information', "
        "'Press Information' and their German forms, the press kit's 'BMW Group Media Information 03/2016 Page 1', "
        "'CONFIDENTIAL', each the whole line",
        _I,
    ),
    CleaningRule(
        "date_line",
        rf"^(?:(?:Date|Datum)[ ]*:?[ ]*)?(?:\d{{1,2}}\.?[ ]+{_MONTHS}[ ]+\d{{4}}|{_MONTHS}[ ]+\d{{1,2}},?[ ]+\d{{4}}"
        rf"|\d{{1,2}}\.\d{{1,2}}\.\d{{4}}){_EOL}",
        "a line holding only a date (optionally labelled 'Date'/'Datum'), as printed in the page header",
        _I,
    ),
    CleaningRule(
        "subject_line",
        rf"^(?:Subject|Betreff|Topic|Thema)[ ]*:?[ ]+(?=[A-Z0-9ÄÖÜ\"“„'‘])[^\n]{{0,160}}{_EOL}",
        "the header's 'Subject'/'Betreff'/'Topic'/'Thema' line with the release title (case-sensitive, and the "
        "title must start with a capital or digit, so a line starting 'Subject to ...' stays)",
    ),
    CleaningRule(
        "page_number",
        rf"^(?:[-–][ ]*)?(?:(?:Page|Seite|p\.|S\.)[ ]*\d{{1,3}}(?:[ ]*(?:of|von|/)[ ]*\d{{1,3}})?"
        rf"|\d{{1,3}}[ ]*/[ ]*\d{{1,3}}|\d{{1,3}})(?:[ ]*[-–])?{_EOL}",
        "page numbers on a line of their own: 'Page 2', 'Seite 2', 'Page 2 of 5', '2/5', '- 2 -', '2'",
        _I,
    ),
    CleaningRule(
        "photo_code_line",
        rf"^(?:(?:Photos?|Fotos?|Images?|Bilder?)(?:[ ]+(?:no\.|number|Nr\.))?[ ]*:?[ ]*)?P\d{{8}}(?:[ ,;]+P\d{{8}})*{_EOL}",
        "lines holding only photo codes such as 'P90512345' (optionally labelled 'Photo:')",
        _I,
    ),
    CleaningRule(
        "photo_code_inline",
        r"[ ]?\((?:(?:Photo|Foto)[ ]*:?[ ]*)?P90\d{6}\)|[ ]?\bP90\d{6}\b",
        "photo codes ('P90512345', '(P90512345)') left inside a line",
    ),
    CleaningRule(
        "consumption_heading",
        rf"^(?:(?:CO2|CO₂)[ ]+emissions?[ ]+information|Fuel consumption and (?:CO2|CO₂) emissions)\.?{_EOL}",
        "the heading over consumption footnotes ('CO2 emission information.'), capitalised, the whole line",
    ),
    CleaningRule(
        "company_address",
        rf"^(?:(?:Company|Firma|Unternehmen)[ ]*:?[ ]*)?(?:Bayerische Motoren Werke(?: Aktiengesellschaft| AG)?|BMW AG"
        rf"|Bayerische|Motoren Werke|Aktiengesellschaft){_EOL}"
        rf"|^(?:Company|Firma|Unternehmen|Postal address|Postanschrift|Office address|Hausanschrift|Address|Anschrift"
        rf"|Internet|Telephone|Telefon)[ ]*:?{_EOL}"
        rf"|^(?:(?:Postal|Office|Visitor|Delivery) address|Postanschrift|Hausanschrift|Besucheranschrift|Address|Anschrift)"
        rf"[ ]*:?[ ]*[^\n]{{0,50}}?\b(?:D-)?\d{{5}}[ ]+[A-ZÄÖÜ][\w]+(?:,[ ]*[A-ZÄÖÜ]\w+)?{_EOL}"
        rf"|^(?:(?:BMW AG|BMW Group)[ ,]+)?(?:[A-ZÄÖÜ]\w*(?:ring|straße|strasse|weg|platz|allee)[ ]+\d{{1,4}}[ ,]*)?"
        rf"(?:D-)?\d{{5}}[ ]+(?:München|Munich|Muenchen)(?:,[ ]*(?:Germany|Deutschland))?{_EOL}"
        rf"|^(?:Petuelring 130|Germany|Deutschland){_EOL}",
        "the company address block: 'Company Bayerische Motoren Werke Aktiengesellschaft', 'Postal address BMW AG "
        "80788 München', bare label lines ('Company', 'Postal address'), street and postcode lines, each a whole line",
        _I,
    ),
    CleaningRule(
        "web_and_social_line",
        rf"^(?:(?:Media website|Medien-?website|Website|Internet|Web|Press ?Club|PressClub|LinkedIn|YouTube|Instagram"
        rf"|Facebook|Twitter|X|Xing|TikTok|Threads)[ ]*:?[ ]*)?(?:{_URL}|[\w\-]+(?:\.[\w\-]+)*\.(?:com|de|net|org)(?:/[^\s]*)?)"
        rf"{_EOL}|^(?:Media website|Medien-?website|Find us on|Follow us on|Social media)[ ]*:?{_EOL}",
        "website and social-media lines: 'www.bmwgroup.com', 'Media website: www.press.bmwgroup.com', "
        "'LinkedIn: https://…', 'Follow us on'",
        _I,
    ),
    CleaningRule(
        "contact_heading_and_names",
        rf"^(?:(?:Press|Media|Your)[ ]+contacts?|Contacts?|Contact person|Pressekontakt|Ansprechpartner(?:in|innen)?"
        rf"|Kontakt|Ihr(?:e)? Ansprechpartner(?:in)?|[^\n.]{{0,50}}\b(?:please contact|contact us|kontaktieren Sie"
        rf"|wenden Sie sich an|Rückfragen an)[ ]*:)[ ]*\n"
        rf"(?:[^\n.!?]{{2,70}}\n){{0,5}}(?={_CONTACT_LABEL}\b)",
        "a contact block's heading ('Press contact', a short line ending 'please contact:') and the "
        "name/title lines under it, only when a phone or e-mail line follows within five short lines",
        _I,
    ),
    CleaningRule(
        "contact_opener",
        rf"^(?:{_CONTACT_OPENER}|(?:Press|Media)[ ]+[Cc]ontacts?\.?|Contacts?\.|Contact person\.?){_EOL}",
        "a contact block's opening line on its own ('In case of queries, please contact:', 'Bitte wenden Sie sich "
        "bei Rückfragen an:') or its heading ('Press Contact.', 'Media contacts'), when no phone or e-mail line "
        "follows closely (entries set apart by blank lines)",
    ),
    CleaningRule(
        "contact_person",
        rf"^{_NAME_START}[A-ZÄÖÜ][^\n.!?:]{{1,79}}\n(?:{_NAME_START}[A-Za-zÄÖÜ][^\n.!?:]{{1,69}}\n){{0,2}}"
        rf"(?=\n?{_CONTACT_DETAIL_LINE})",
        "up to three short name/title lines directly above a phone or e-mail line ('Jane Doe, Communications "
        "Finance', 'Dr. Jane Doe' / 'spokesperson Corporate Citizenship'); the first capitalised, none with "
        "sentence punctuation",
    ),
    CleaningRule(
        "contact_detail",
        rf"^(?:{_CONTACT_LABEL}[ ]*[:.]{{0,2}}[ ]*)?(?:{_PHONE}|{_EMAIL})(?:[ ]*[,;|][ ]*(?:{_CONTACT_LABEL}[ ]*[:.]?[ ]*)?"
        rf"(?:{_PHONE}|{_EMAIL}))*[ ]*[,;]?{_EOL}|^(?-i:Tel\.?|Telephone|Telefon|Phone|Mobile?|Fax|E-?[Mm]ail)[ ]*\.?:{_EOL}",
        "lines holding only phone, fax or e-mail details ('Telephone: +49 89 382-12345', 'Tel.: +49 89 382-12345, "
        "jane.doe@bmw.de', 'jane.doe@bmwgroup.com,'), and a label with a colon alone on its line ('Tel.:')",
        _I,
    ),
    CleaningRule(
        "about_company_heading",
        r"^(?:The BMW Group|Die BMW Group|Das BMW Group|About the BMW Group|Über die BMW Group|BMW Group)[ ]*:?[ ]*$\n?",
        "the heading of the standard company paragraph ('The BMW Group', 'Über die BMW Group') as a paragraph of its own",
        re.MULTILINE,
        "paragraphs",
    ),
    CleaningRule(
        "about_company_profile",
        # The profile's first sentence lists the brands and calls the group a premium maker; the
        # lookaheads stay inside that sentence ([^.\n]).
        r"^(?=[^.\n]*\bBMW, MINI,? (?:and |und )?Rolls-Royce,? (?:and|und) BMW Motorrad\b)(?=[^.\n]*\bpremium)"
        r"[^\n]*$\n?|^The BMW Group is the world's leading (?:premium manufacturer|provider of premium)[^\n]*$\n?",
        "the standard company profile paragraph, English or German: its first sentence lists the brands "
        "'BMW, MINI, Rolls-Royce and BMW Motorrad' and calls the group a premium maker; or, in the older "
        "generation, opens 'The BMW Group is the world's leading premium manufacturer'",
        _I,
        "paragraphs",
    ),
    CleaningRule(
        "about_company_en",
        r"^(?:The BMW Group production network comprises|In \d{4},? the BMW Group sold[^\n]{0,40} (?:passenger vehicles|automobiles|cars) and[^\n]{0,40} motorcycles"
        r"|The (?:economic )?success of the BMW Group has always"
        r"|The BMW Group has always been based on long-term|As of 31 December \d{4},? the BMW Group had a workforce)"
        r"[^\n]*$\n?",
        "the follow-on paragraphs of the real site's English company profile (production network, vehicles "
        "and motorcycles sold, workforce, '(economic) success ... has always been based on long-term thinking')",
        re.MULTILINE,
        "paragraphs",
    ),
    CleaningRule(
        "about_company_de",
        r"^(?:Das BMW Group Produktionsnetzwerk|Im Jahr \d{4} (?:verkaufte|hat) die BMW Group|Der wirtschaftliche Erfolg der BMW Group"
        r"|Ende (?:des Jahres )?\d{4} beschäftigte die BMW Group)[^\n]*$\n?",
        "the follow-on paragraphs of the German company profile (production network, vehicles sold, "
        "workforce, 'Der wirtschaftliche Erfolg der BMW Group …')",
        re.MULTILINE,
        "paragraphs",
    ),
    CleaningRule(
        "consumption_figures",
        r"^[^\n]{0,100}?\b(?:Fuel|Energy|Power|Electric power|Combined)[ ]+consumption\b[^\n]*?(?:l|kWh)[ ]?/100[ ]?km"
        r"[^\n]*?g/km[^\n]*$\n?"
        r"|^[^\n]{0,100}?\b(?:Kraftstoffverbrauch|Energieverbrauch|Stromverbrauch)\b[^\n]*?(?:l|kWh)[ ]?/100[ ]?km"
        r"[^\n]*?g/km[^\n]*$\n?",
        "paragraphs listing a model's official consumption and CO2 figures (they give both l|kWh/100 km and g/km)",
        _I,
        "paragraphs",
    ),
    CleaningRule(
        "consumption_disclaimer",
        # Three lookaheads bounded to the first sentence ([^.\n]): it names WLTP/NEDC, speaks of
        # figures/values, and names the procedure or regulation behind them.
        r"^(?=[^.\n]*\b(?:WLTP|NEDC|NEFZ|fuel consumption|CO2 efficiency)\b)"
        r"(?=[^.\n]*\b(?:figures|values|data|information|classes|Werte|Angaben)\b)"
        r"(?=[^.\n]*(?:test procedure|measurement procedure|test cycle|Prüfverfahren|Regulation|Ordinance|Verordnung"
        r"|VO \(EU\)|Deutsche Automobil Treuhand|guide|Leitfaden))"
        r"(?:All |The |Further |Additional |Official |Fuel consumption|Energy consumption|Power consumption|CO2 "
        r"|Alle |Die |Weitere |Offizielle |Angaben|Kraftstoffverbrauch|Stromverbrauch|Energieverbrauch)[^\n]*$\n?"
        r"|^(?:For )?(?:further|more) (?:details|information) (?:on|about) (?:the )?official (?:fuel|energy|power) consumption"
        r"[^\n]*$\n?",
        "the WLTP/NEDC consumption disclaimer: a paragraph whose first sentence names WLTP/NEDC (or fuel "
        "consumption, CO2 efficiency), speaks of figures, values or classes and names the procedure, regulation, "
        "ordinance or DAT guide behind them; and the 'Further "
        "information on official fuel consumption …' pointer to the guideline",
        _I,
        "paragraphs",
    ),
)
"""All rules, in the order ``clean_pdf_text`` applies them."""
