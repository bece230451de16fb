"""Patterns for the identifiers that :mod:`app.case.deidentify` removes (HIPAA Safe Harbor's list).

Each pattern is a shape, plus a cue word where the shape alone would also match clinical text; none
is a list of known values (those come from the Patient resource, in :mod:`~app.case.deidentify`).

- Contacts: e-mail, also spelled out ("bart at fastmail dot com", "bart [at] fastmail [dot] com";
  a plain "bart at fastmail.com" only after an e-mail cue or when the user name has a digit, dot or
  underscore); URLs with a scheme, ``www.`` or a bare host with a common TLD
  (``mychart.example.org/u/7``); IPv4 (also before a full stop) and IPv6 addresses; MAC addresses
  (six colon- or dash-separated pairs, or three dotted quads); social-media handles ("@name",
  "u/name", "name#1234", or a word after "Instagram:", "TikTok as", "username is", …); GPS
  coordinates (degrees with hemispheres, a decimal pair with four or more decimals, or a pair after
  "GPS", "coordinates", "lat", "location", with both numbers in range).
- Phones: North American numbers in any common punctuation, with extensions; ``+`` international
  numbers; any 5–15 digit number after a phone cue ("tel 5550199", "Pager: 41234"); a bare 7-digit
  local number ("555-0199") unless a unit follows or a range cue precedes ("reference 200-1000 U/L").
- Driver's licences: a code with a digit within 30 characters after "driver's licence", "driver
  lic.", "licence", DLN, OLN, CDL or DL ("Photo ID (driver's license) number ABC1234").
- Numbers: SSNs with dashes or spaces; any code containing a digit after an identifier cue (MRN,
  member/policy/group/subscriber/Medicaid/Medicare, account, encounter, licence, DEA, NPI, VIN,
  plate, serial, device, UDI, accession, claim, ...), letters-only prefix groups included
  ("Member ID XJH 1234 5678"); a bare run of 7+ digits unless a database prefix (PMID, OMIM, rs,
  chr…) precedes or a unit follows.
- Places: street addresses (number, optional direction, 1–4 words, a street suffix, optional unit),
  P.O. boxes, "Apt 4B"; "City, ST" / "City, State" (the state is kept: Safe Harbor allows it); a city
  after "lives in", "moved from", …; ZIP codes after a state, after "ZIP", or in ZIP+4 form.
- Facilities: capitalised words ending in a facility noun (Hospital, Medical Center, Clinic,
  Pediatrics, Urgent Care, …) or "Hospital of X"; kept when no word is distinctive ("Genetics Clinic").
  Without a facility noun: capitalised words ending in a word that names a hospital ("Northwestern
  Memorial", "Lurie Children's", "Mass General", "Houston Methodist", "Cedars-Sinai"), an acronym
  before a saint ("OSF Saint Francis") or a saint in the possessive ("St. Mary's", but not "St.
  John's wort"), capitalised words before NICU/PICU/ED/ER, and capitalised words after a care verb
  and at/to/from ("transferred to Lurie", "records from Mayo"), unless they are a heading, a title or
  a unit ("admitted to the PICU", "referred to Neurology", "Labor and Delivery").
  Employers and schools: capitalised words after "works at/for", "attends", or ending in School/Academy.
- Ages over 89, in digits or words ("ninety-four", "one hundred and two"): before "-year-old",
  "y/o", "yo", "years old" the number becomes "90+"; after "age", "aged", "died at" it becomes "90 or
  older"; "in her late nineties" becomes "aged 90 or older", "nonagenarian" "90+-year-old".
- People other than the patient, by context: a title before the name (Dr., Nurse, Ms., RN, NP, PA-C),
  a credential after it ("Smith DO", "Jane Doe MD", "Anna Kim, MS, CGC"), a role ("social worker",
  "cardiologist"), a relation ("her mother, Mary Jones,", "brother Tom", "Mary Jones (mother)"), or a
  label ("Attending:", "signed by", "discussed with"). A candidate word is refused when it is in
  STOP (capitalised non-names: headings, conditions, specialties, months) or is an eponym: followed
  by a disease noun ("Wilson disease", "Duchenne muscular dystrophy", "Bell's palsy") or an eponym in
  the possessive ("Parkinson's").
"""
from __future__ import annotations

import re

UP, LO = "A-ZÀ-ÖØ-Þ", "a-zß-öø-ÿ"
WORD = rf"(?:[{UP}]['’])?[{UP}][{LO}]+(?:[{UP}][{LO}]+)?(?:-[{UP}][{LO}]+)*"  # O'Brien, McDonald, DeShawn
INITIAL = rf"[{UP}]\.?"
PARTICLE = r"(?:van|von|der|den|de|del|della|di|da|du|dos|das|la|le|bin|ibn|St\.)"
NAME = (rf"(?:{INITIAL}[ \t]+)?(?:{PARTICLE}[ \t]+)*{WORD}"
        rf"(?:[ \t]+(?:{INITIAL}[ \t]+)?(?:{PARTICLE}[ \t]+)*{WORD}){{0,3}}")
NAMES = rf"{NAME}(?:[ \t]*(?:,|and|&)[ \t]*{NAME})*"
TOKEN = re.compile(rf"{WORD}|[{UP}]\.|{PARTICLE}")


def _words(text: str) -> frozenset[str]:
    return frozenset(text.lower().split())


STOP = _words("""
he she they it his her hers their them we you i the a an this that these those there here and or but if then
also not no none nor yes both either each every all any some other such is was were are be been has have had do
does did would should could can might must per with without from for patient pt pts history hx family social
medical surgical past present illness chief complaint assessment plan impression diagnosis diagnoses problem
problems medications meds allergies review systems ros vitals vital signs labs lab results exam examination
physical general findings recommendations summary discharge admission note notes report procedure studies imaging
genetics genetic counseling counselling education disposition signature addendum follow followup up course
hospital clinic unit department service team ward floor emergency outpatient inpatient healthy deceased alive
living died dead unknown adopted negative positive normal abnormal well unremarkable noncontributory denies
reports states presented diagnosed treated cancer disease syndrome disorder diabetes hypertension asthma stroke
dementia depression anxiety seizures seizure epilepsy obesity heart breast colon lung kidney liver thyroid blood
type stage grade class age aged years old month months week weeks days today yesterday tomorrow neurology
cardiology radiology pathology surgery oncology hematology nephrology ophthalmology dermatology endocrinology
psychiatry pediatrics paediatrics orthopedics gastroenterology pulmonology rheumatology urology gynecology
obstetrics anesthesia neonatology immunology allergy infectious palliative rehab rehabilitation pharmacy
nutrition nursing practitioner assistant physician doctor nurse attending resident fellow provider dr drs mr mrs
ms miss mx prof doctor january february march september october november december monday tuesday wednesday
thursday friday saturday sunday christmas thanksgiving easter north south east west new street avenue road
university college school center centre medical health system care regional general memorial children's
electronically signed dictated reviewed seen discussed referred referral contact emergency insurance portal
phone cell fax pager email mother father sister brother parents son daughter aunt uncle cousin grandmother
grandfather husband wife partner spouse maternal paternal mom dad parent sibling siblings child children baby
infant newborn male female man woman boy girl gentleman lady mrn dob ssn id none other see per spanish english
french arabic mandarin chinese cantonese vietnamese korean russian portuguese haitian creole somali swahili hindi urdu
japanese german italian polish tagalog farsi asl sign language
""")
WORDLIKE = _words("""
rose hope mark will may june april august grace joy faith dawn iris ivy frank bill art summer amber violet daisy ruby
pearl hunter chase drew gene sandy penny rich sky brook autumn angel patience guy earl dean bell hill wood stone price
rice little long cook gray grey day marsh pope black white brown green young king short strong sharp hardy wise moody
frost fox bird case page law mason carter baker miller turner fisher walker bishop cross rush reed ray cash lane park
field ford bush banks glass hall hale wolf lamb swift best love hart noble major golden silver crystal jade ginger
honey candy holly heather olive hazel sage basil river storm rain sunny wade pierce grant bud buck jack sue pat don
bob kit chip rocky duke prince baron son low lee mills winter spring
""")
PARTICLES = _words("van von der den de del della di da du dos das la le bin ibn st st.")
ORG_KEEP = _words("st. saint university college children's regional general memorial medical health care center "
                  "north south east west new mount mt.")
ORG_GENERIC = _words("""
of the and & for st. saint mt. mount university children's childrens women's regional general memorial community
medical health care center centre county city state national international specialty primary urgent family
pediatric adult outpatient inpatient ambulatory behavioral mental public private main central veterans teaching
academic multidisciplinary comprehensive same day walk-in free sleep pain memory movement disorders neuromuscular
epilepsy lipid muscle bone eye heart kidney liver lung skin women men kids follow-up transplant vascular spine wound
travel vaccine infusion dialysis stroke cancer genetics occupational student employee global home graduate high
middle elementary nursing law business summer sunday boarding special charter junior senior secondary cardiac renal
hospital hospitals clinic clinics institute associates physicians practice medicine pediatrics school academy
preschool daycare inc inc. llc corp corp. co. ltd ltd. group system labor delivery l&d triage recovery nicu picu icu
cicu cvicu sicu micu ccu ed er or pacu icn emergency intensive step-down stepdown telemetry tele ward unit floor mri
ct pet ultrasound echo eeg ekg ecg emg radiology laboratory lab labs pharmacy ambulance ems surgeon attorney term
preterm snf ltach ltc irf rehab hospice home
""")
EPONYMS = _words("""
parkinson alzheimer crohn hodgkin huntington marfan down tourette asperger graves hashimoto cushing addison
kawasaki raynaud sjögren sjogren duchenne becker wilson turner noonan rett angelman gaucher fabry pompe lyme bell
paget ewing wilms burkitt kaposi barrett ménière meniere guillain gehrig alport lynch hirschsprung tay prader
ehlers charcot kearns leigh krabbe hurler hunter sanfilippo fanconi wolff brugada friedreich lewy apgar gowers
babinski romberg tinel trendelenburg bartter gitelman menkes stargardt usher leber zellweger canavan batten dravet
williams digeorge klinefelter kallmann beckwith sotos cornelia stickler loeys kabuki alagille joubert bardet
""")
DISEASE_NOUN = (r"syndromes?|diseases?|disorders?|dystroph(?:y|ies)|myopath(?:y|ies)|neuropath(?:y|ies)|anomal(?:y|ies)|"
                r"malformations?|signs?|tests?|reflex(?:es)?|maneuvers?|manoeuvres?|criteria|scores?|scales?|palsy|"
                r"phenomenon|lymphomas?|sarcomas?|tumou?rs?|carcinomas?|leuka?emias?|ataxia|chorea|dementia|"
                r"thyroiditis|ulcers?|fractures?|cysts?|nodes?|procedures?|operations?|repair|shunt|type|variant|"
                r"deficiency|triad|tetralogy|an(?:a)?emia|arthritis|encephalopathy|encephalitis|sclerosis|atrophy|"
                r"pattern|bod(?:y|ies)|cells?|nodules?|spots?|lines?|rings?|hernia|dysplasia|nevus|aneurysm|index|"
                r"classification|stage|staging|Leiden")
EPONYM_AFTER = re.compile(rf"(?:-[A-Z][a-z]+)*(?:['’]s?)?(?:[ \t]+(?:muscular|type|variant|like|familial|juvenile|adult|classic|"
                          rf"atypical|spinal|hereditary|congenital|progressive|infantile|sporadic|\d[A-Za-z]?|V|"
                          rf"[A-Z][a-z]+-[A-Z][a-z]+)){{0,2}}[ \t-]+(?i:{DISEASE_NOUN})\b")
DEPARTMENT = re.compile(r"(?i)(?:ology|ologic|ological|iatric|iatrics|ics|ary|ical|al|ic|ive|ine|ery)$")

KIN = (r"(?:(?:maternal|paternal|older|younger|big|little|elder|twin|half|step|adoptive|foster|biological|birth|"
       r"great)[ -])*(?:step-?)?(?:grand)?(?:mother|father|mom|dad|mum|mommy|daddy|mama|papa|parents?|brothers?|sisters?|"
       r"siblings?|sons?|daughters?|child(?:ren)?|husband|wife|spouse|partner|fianc[ée]e?|boyfriend|girlfriend|"
       r"aunt|uncle|cousin|niece|nephew|grandma|grandpa|granny|guardian|caregiver|carer|friend|roommate|"
       r"neighbou?r|co-?worker|boss|twin|(?:mother|father|sister|brother|son|daughter)-in-law|grandson|"
       r"granddaughter|grandchild)")
ROLE = (r"(?:social worker|case manager|care manager|care coordinator|nurse coordinator|nurse navigator|"
        r"nurse practitioner|physician assistant|genetic counsel?lor|counsel?lor|(?:physical|occupational|speech|"
        r"respiratory|music|child life) therapist|therapist|pharmacist|dietitian|dietician|nutritionist|"
        r"interpreter|translator|chaplain|nurse|physician|surgeon|resident|intern|fellow|attending|hospitalist|"
        r"provider|clinician|midwife|doula|teacher|coach|caseworker|advocate|[a-z]*ologist|[a-z]*iatrician|"
        r"[a-z]*iatrist|geneticist|optometrist|dentist|orthodontist|chiropractor|pcp|primary care (?:physician|"
        r"provider|doctor)|doctor|sonographer|technician|scribe|paramedic)")
LABEL = (r"(?:patient name|patient|pt name|name|pcp|referring (?:provider|physician|doctor)|referred by|"
         r"(?:electronically |e-)?signed(?: by)?|dictated by|transcribed by|author|co-?signed by|cc|"
         r"(?:emergency )?contact|next of kin|nok|informant|historian|accompanied by|seen with|discussed with|"
         r"spoke (?:with|to)|talked (?:with|to)|met with|consented by|witness(?:ed by)?|requested by|ordered by|"
         r"verified by|performed by|reviewed by|approved by|interpreted by|goes by|known as|aka|a\.k\.a\.|"
         r"nicknamed?|prefers to be called|c/o|care of|attn|dear|sincerely|regards)")
TITLE = r"(?:Drs?|DR|Doctor|Prof|Professor|Mr|Mrs|Ms|Miss|Mx|Nurse|Rev)"
TITLE_ABBR = r"(?:PA-C|RN|LPN|LVN|NP|APRN|CRNP|FNP|PNP|DNP|PA|CNM|CRNA|CNA|LCSW|MSW|CGC|PharmD|RPh)"
CRED_STRICT = r"(?:M\.D\.|MD|D\.O\.|DO|Ph\.D\.|PhD|RN|NP|PA-C|MBBS|FNP|APRN|DNP|LPN|CNM|DDS|DMD|CRNA|FAAP)"
CRED = (rf"(?:{CRED_STRICT}|MSc|MSN|MPH|MSW|MS|MA|BSN|PA|RDN|RD|OD|DPT|PT|OTR|OT|CCC-SLP|SLP|CNS|FACP|FACC|FRCPC|"
        r"FRCP|MBChB|CNA|LICSW|LCSW|RPh|PharmD|CGC|LPC|LMFT|PsyD|ARNP|CPNP|NNP|RRT|EMT)")

NAME_CONTEXTS = [  # (pattern with a "name" group, side of the cue: names are trimmed away from it)
    (re.compile(rf"\b(?:{TITLE}\b\.?|{TITLE_ABBR}\b)[ \t]+(?P<name>{NAME})"), "before"),
    (re.compile(rf"(?P<name>{NAME}(?:,[ \t]*{WORD}(?:[ \t]+{INITIAL})?)?)(?=(?:,[ \t]*{CRED}|[ \t]+{CRED_STRICT})(?!\w))"),
     "after"),
    (re.compile(rf"\b(?i:{KIN})\b(?P<sep>[ \t]*(?:,|\(|:|-|–)?[ \t]*(?:(?i:is|was|named|called|known as)[ \t]+)?)"
                rf"(?P<name>{NAMES})"), "before"),
    (re.compile(rf"(?P<name>{NAME})(?=[ \t]*\((?i:(?:her|his|their|the|pt'?s|patient'?s)[ \t]+)?{KIN}\)|,[ \t]*"
                rf"(?i:her|his|their|the patient's|pt's)[ \t]+(?i:{KIN})\b)"), "after"),
    (re.compile(rf"\b(?i:{ROLE})\b[ \t]*(?:[,:(-]|–)?[ \t]*(?P<name>{NAMES})"), "before"),
    (re.compile(rf"\b(?i:{LABEL})\b[ \t]*(?::|-|–|#)?[ \t]*(?P<name>{NAMES})"), "before"),
]
NAME_RUN = re.compile(r"\[name\](?:[ \t]+(?:[A-Z]\.?[ \t]+)?\[name\])+")

STATE_ABBR = ("AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY NC ND "
              "OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY PR").split()
STATE_NAME = ("Alabama|Alaska|Arizona|Arkansas|California|Colorado|Connecticut|Delaware|Florida|Georgia|Hawaii|Idaho|"
              "Illinois|Indiana|Iowa|Kansas|Kentucky|Louisiana|Maine|Maryland|Massachusetts|Michigan|Minnesota|"
              "Mississippi|Missouri|Montana|Nebraska|Nevada|New Hampshire|New Jersey|New Mexico|New York|"
              "North Carolina|North Dakota|Ohio|Oklahoma|Oregon|Pennsylvania|Rhode Island|South Carolina|"
              "South Dakota|Tennessee|Texas|Utah|Vermont|Virginia|Washington|West Virginia|Wisconsin|Wyoming")
STATE = rf"(?:{'|'.join(STATE_ABBR)}|{STATE_NAME})"
ZIP = r"\d{5}(?:-\d{4})?"
_CITY = rf"(?P<name>{WORD}(?:[ \t]+{WORD}){{0,2}}),[ \t]*(?P<state>{STATE})\b\.?"
CITY_STATE = re.compile(rf"{_CITY}(?:,?[ \t]+(?P<zip>{ZIP}))?(?![\w-])")
CITY_STATE_ZIP = re.compile(rf"{_CITY.replace('),[', '),?[')},?[ \t]+(?P<zip>{ZIP})(?![\w-])")
CITY_ZIP = re.compile(rf"(?!{STATE}\b)(?P<name>{WORD}(?:[ \t]+{WORD}){{0,2}})(?=,?[ \t]+\[zip\])")
CITY_CUE = re.compile(rf"\b(?i:lives|living|lived|resides|residing|resided|moved|relocated|grew up|born|raised|"
                      rf"hometown|native|originally|is from|are from|comes from)\b[ \t]+(?:(?i:in|to|from|near|"
                      rf"outside(?: of)?|of|at)[ \t]+)?(?P<name>{WORD}(?:[ \t]+{WORD}){{0,2}})")
ZIPS = [re.compile(rf"(?P<key>(?:\b{STATE}|\[(?:address|city)\])\.?,?[ \t]+){ZIP}(?![\w-])"),
        re.compile(rf"(?P<key>\b(?i:zip(?:[ \t]*code)?|postal[ \t]*code)\W{{0,3}}){ZIP}(?![\w-])"),
        re.compile(r"(?<![\w.-])\d{5}-\d{4}(?![\w-])")]
STREET_SUFFIX = (r"Street|St|Avenue|Ave|Road|Rd|Drive|Dr|Lane|Ln|Court|Ct|Boulevard|Blvd|Way|Place|Pl|Terrace|Ter|"
                 r"Circle|Cir|Parkway|Pkwy|Highway|Hwy|Trail|Trl|Loop|Row|Square|Sq|Plaza|Crescent|Alley|Pike|Run|"
                 r"Path|Bend|Crossing|Ridge|Cove|Commons|Expressway|Turnpike")
UNIT = r"(?:Apt|Apartment|Suite|Ste|Unit|Bldg|Building|Floor|Fl|Room|Rm|Lot)\.?[ \t]*#?[ \t]*[A-Z0-9-]*\d[A-Z0-9-]*|#[ \t]*\d+[A-Z]?"
STREETS = [
    re.compile(rf"\b\d{{1,6}}(?:-\d{{1,4}})?[A-Z]?[ \t]+(?:(?:N|S|E|W|NE|NW|SE|SW|North|South|East|West)\.?[ \t]+)?"
               rf"(?:(?:\d{{1,3}}(?:st|nd|rd|th)|{WORD}|Jr\.?|Sr\.?|St\.)[ \t]+){{1,4}}(?:{STREET_SUFFIX})\b\.?"
               rf"(?:[ \t]+(?:NE|NW|SE|SW|N|S|E|W)\b\.?)?(?:,?[ \t]*(?:{UNIT}))?"),
    re.compile(r"\b(?:P\.?[ \t]?O\.?[ \t]*Box|Post[ \t]+Office[ \t]+Box)[ \t]*#?[ \t]*\d+", re.I),
    re.compile(r"\b(?:Apt|Apartment|Suite|Ste)\.?[ \t]*#?[ \t]*\d+[A-Z]?\b"),
]
FAC_NOUN = (r"Hospitals?|Medical Cent(?:er|re)|Health (?:Cent(?:er|re)|System|Care|Sciences Center)|Healthcare|Clinics?|"
            r"Infirmary|Medical Group|Sanatorium|Hospice|Nursing (?:Home|Facility|Center)|Rehabilitation "
            r"(?:Center|Hospital|Institute)|Cancer (?:Center|Institute)|Institute|Family (?:Practice|Medicine)|"
            r"Pediatrics|Paediatrics|Medical Associates|Associates|Urgent Care|Surgery Center|Surgical Center|"
            r"Care Center|Primary Care|Physicians|Health|Dialysis Center|Birth Center|VAMC|Campus")
FAC_PART = rf"(?:(?:University|College|Institute)[ \t]+of|{WORD}(?:['’]s)?|(?!{CRED}\b)[A-Z]{{2,5}}|St\.|Mt\.|the|and|&)"
_FAC_OF = rf"[ \t]+(?:of|for)[ \t]+(?:the[ \t]+)?{WORD}(?:[ \t]+(?:of[ \t]+)?{WORD}){{0,2}}"
FACILITY = re.compile(rf"(?P<name>(?:{FAC_PART}[ \t]+){{1,6}}?(?:{FAC_NOUN})\b(?:{_FAC_OF})?|(?:Hospital|Clinic|Infirmary)"
                      rf"{_FAC_OF})")
FAC_SUFFIX = r"(?:Memorial|Children['’]s|General|Methodist|Baptist|Presbyterian|Lutheran|Adventist|Sinai)"
_FAC_WORD = rf"(?:{WORD}|(?!{CRED}\b)[A-Z]{{2,6}})"
_FAC_RUN = rf"(?:{WORD}(?:['’]s)?|[A-Z]{{2,6}}|St\.|Saint)(?:[ \t-]+(?:{WORD}(?:['’]s)?|[A-Z]{{2,6}}|St\.|Saint|of|and|&)){{0,4}}"
CARE_VERB = (r"(?:seen|evaluated|treated|admitted|readmitted|hospitali[sz]ed|transferred|transported|discharged|"
             r"delivered|born|presented|followed|managed|operated|diagnosed|airlifted|flown|records?|imaging|scans?|"
             r"stay|visits?|biopsy|care|tested|testing|surgery|referred|referral)")
FACILITY_BARE = [  # (a cheap test that the pattern can match at all, the pattern)
    (re.compile(FAC_SUFFIX), re.compile(rf"(?P<name>{_FAC_WORD}(?:[ \t]+{_FAC_WORD}){{0,2}}[ \t-]+{FAC_SUFFIX})"
                                        r"(?![\w'’-])(?![ \t]+[A-Z][a-z])")),
    (re.compile(r"\b(?:Saint|St\.)"), re.compile(rf"(?P<name>[A-Z]{{2,6}}[ \t]+(?:Saint|St\.)[ \t]+{WORD}(?:['’]s)?|"
                                                 rf"(?:Saint|St\.)[ \t]+{WORD}['’]s)(?![\w'’])(?![ \t]+(?i:wort|dance|fire)\b)")),
    (re.compile(r"\b(?:NICU|PICU|CICU|ICU|ED|ER|ICN)\b"),
     re.compile(rf"(?P<name>{_FAC_RUN})(?=[ \t]+(?:NICU|PICU|CICU|ICU|ED|ER|ICN)\b)")),
]
FACILITY_CUED = re.compile(rf"\b(?i:{CARE_VERB})(?:[ \t]+(?i:up|on|out|back|initially|previously|again|later|earlier|"
                           rf"elsewhere))?[ \t]+(?i:at|to|from)[ \t]+(?:the[ \t]+)?(?P<name>{_FAC_RUN})")
ORG = rf"(?:{WORD}|[A-Z]{{2,}})(?:[ \t]+(?:{WORD}|[A-Z]{{2,}}|&|of|Inc\.?|LLC|Corp\.?|Co\.|Ltd\.?))*"
ORGS = [re.compile(rf"\b(?i:works?|working|worked|employed|employee|job|employer|retired|volunteers?|teaches|grade|"
                   rf"student|enrolled)\b[^.;:\n]{{0,30}}?\b(?:at|for|by|with)[ \t]+(?:the[ \t]+)?(?P<name>{ORG})"),
        re.compile(rf"\b(?i:attends|attended|enrolled in)[ \t]+(?:the[ \t]+)?(?P<name>{ORG})"),
        re.compile(rf"(?P<name>(?:{WORD}[ \t]+){{1,3}}(?:(?:Elementary|Middle|High|Primary|Secondary|Junior High|"
                   rf"Charter|Montessori|Preparatory|Prep)[ \t]+)?(?:School|Academy|College|Preschool|Daycare))\b")]

_UNIT_W = r"(?:one|two|three|four|five|six|seven|eight|nine)"
OLD_WORDS = (rf"(?:ninety(?:[- ]{_UNIT_W})?|(?:one|a)[- ]hundred(?:(?:[- ]and)?[- ](?:ten|eleven|twelve|thirteen|"
             rf"fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|{_UNIT_W}))?)")
AGE_AFTER = re.compile(rf"(?:(?<![\d.,/])(?:9\d|1[01]\d)|\b{OLD_WORDS})(?=[ \t]*-?[ \t]*(?:years?|yrs?|y)[ \t]*-?[ \t]*(?:old|o\b|/o)|"
                       r"[ \t]*(?:y/?o|y\.o\.?)(?![a-z])|-(?:years?|yrs?)-old|[ \t]+years?[ \t]+of[ \t]+age)", re.I)
AGE_BEFORE = re.compile(r"(?P<key>\b(?:ages?|aged|age of|died at|passed away at|deceased at|death at|expired at)"
                        rf"[ \t]*:?[ \t]*(?:(?:the[ \t]+)?age[ \t]+(?:of[ \t]+)?)?)(?:9\d|1[01]\d|{OLD_WORDS}\b)"
                        r"(?!\d|[.,]\d|\+|[ \t]+or older|[ \t]*(?:%|mg|kg|lbs?|cm|mm|g\b|bpm|mmHg|/))", re.I)
AGE_DECADE = re.compile(r"(?i)\bin[ \t]+(?:his|her|their|the patient's|pt's)[ \t]+(?:(?:early|mid|late)[ \t-]*)?"
                        r"(?:nineties|90['’]?s|hundreds)\b")
AGE_NOUN = re.compile(r"(?i)\b(?:super)?(?:nonagenarian|centenarian)s?\b")
AGE_PAREN = re.compile(rf"(?P<key>\b(?i:{KIN})\b[^.;\n()]{{0,30}}\()(?:9\d|1[01]\d)(?=\))")

URLS = [re.compile(r"(?i)\b(?:(?:https?|ftp)://|www\.)[^\s<>\"']*[^\s<>\"'.,;:!?)\]]"),
        re.compile(r"(?i)(?<![@\w.-])(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+(?:com|org|net|edu|gov|mil|int|io|us|uk|"
                   r"ca|au|de|fr|nl|info|biz|health|care|app|me|co)\b(?:/[^\s<>\"']*[^\s<>\"'.,;:!?)\]])?")]
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
IPS = [re.compile(r"(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)(?!\d|\.\d)"),
       re.compile(r"(?i)(?<![\w:])(?:(?:[0-9a-f]{1,4}:){7}[0-9a-f]{1,4}|(?:[0-9a-f]{1,4}:){1,6}:(?:[0-9a-f]{1,4}"
                  r"(?::[0-9a-f]{1,4}){0,5})?)(?![\w:])")]
MAC = re.compile(r"(?i)(?<![\w:.-])(?:[0-9a-f]{2}(?P<s>[:-])[0-9a-f]{2}(?:(?P=s)[0-9a-f]{2}){4}|"
                 r"[0-9a-f]{4}\.[0-9a-f]{4}\.[0-9a-f]{4})(?![\w:-]|\.\w)")
_AT = r"(?:[ \t]*[(\[{<][ \t]*(?i:at)[ \t]*[)\]}>][ \t]*|[ \t]+(?:at|AT)[ \t]+|[ \t]*@[ \t]*)"
_DOT = r"(?:[ \t]*[(\[{<][ \t]*(?i:dot)[ \t]*[)\]}>][ \t]*|[ \t]+(?:dot|DOT)[ \t]+|[ \t]*\.[ \t]*)"
EMAIL_SPELLED = re.compile(rf"(?<![\w.+-])(?P<user>[\w.+-]+){_AT}[\w-]+(?:{_DOT}[\w-]+)*?{_DOT}"
                           r"(?i:com|org|net|edu|gov|mil|io|us|co|me|info|biz|uk|ca)\b")
EMAIL_CUE = re.compile(r"(?i)\b(?:e-?mail(?:ed)?|mail|write|contact|reach|address)\b[^.;\n]{0,25}$")
HANDLES = [re.compile(r"(?<![\w@.])@[A-Za-z_][\w.]{0,28}[\w]"),
           re.compile(r"(?<![\w/])u/[\w.-]{2,20}\w"),
           re.compile(r"(?<![\w.#])[A-Za-z][\w.]{1,31}#\d{4}\b")]
SOCIAL = re.compile(r"(?P<key>\b(?i:instagram|insta|ig|twitter|tiktok|tik tok|snapchat|snap|facebook|fb|reddit|"
                    r"discord|youtube|twitch|tumblr|threads|bluesky|mastodon|linkedin|handle|username|user name|"
                    r"screen ?name|gamertag)(?:[ \t]+(?i:handle|username|name|id))?(?::[ \t]*|[ \t]+(?i:as|is|under)"
                    r"[ \t]+))(?P<h>[A-Za-z_][\w.]{1,29}[\w])")
NOT_HANDLE = _words("well much often usual needed before such possible always usual part one daily weekly again too "
                    "group page account messenger story stories friends video videos live")
_DMS = r"\d{1,3}(?:\.\d+)?°(?:[ \t]*\d{1,2}(?:\.\d+)?['′’](?:[ \t]*\d{1,2}(?:\.\d+)?(?:[\"″”]|''))?)?[ \t]*"
_COORD_CUE = r"(?i:gps|coordinates?|coords|lat(?:itude)?(?:/long?(?:itude)?)?|geo(?:location|tag)?|location(?: shared)?)"
GPS = [re.compile(rf"(?<![\w.]){_DMS}[NS]\b,?[ \t]*{_DMS}[EW]\b"),
       re.compile(r"(?<![\w.])(?P<lat>[-+]?\d{1,2}\.\d{4,}),[ \t]*(?P<lon>[-+]?\d{1,3}\.\d{4,})(?![\d.])"),
       re.compile(rf"(?P<key>\b{_COORD_CUE}\b\W{{0,3}})(?:(?i:lat(?:itude)?)[ \t:]*)?(?P<lat>[-+]?\d{{1,2}}\.\d{{2,}})°?"
                  rf"[ \t]*[NS]?,?[ \t]*(?:(?i:lon(?:g(?:itude)?)?)[ \t:]*)?(?P<lon>[-+]?\d{{1,3}}\.\d{{2,}})°?(?:[ \t]*[EW]\b)?")]
EXT = r"(?:[ \t]*(?i:x|ext\.?|extension)[ \t]*\d{1,6})?"
PHONES = [
    re.compile(rf"(?<![\w+/.-])(?:\+?1[ \t.-]?)?(?:\(\d{{3}}\)[ \t]?|\d{{3}}[ \t./-])\d{{3}}[ \t.-]\d{{4}}{EXT}(?![\w-])"),
    re.compile(rf"(?<![\w+])\+[2-9]\d{{0,2}}(?:[ \t.-]?\(?\d{{1,4}}\)?){{2,5}}\d{{2,4}}{EXT}(?![\w-])"),
]
PHONE_CUED = re.compile(rf"(?P<key>\b(?i:phone|ph|tel|telephone|cell(?:phone)?|mobile|fax|facsimile|pager|beeper|"
                        rf"call|contact number|home|work|office|number|reached at|reach (?:her|him|them|me) at|text)"
                        rf"\b\.?[ \t]*(?:#|no\.|:)?[ \t]*(?:(?i:is|at)[ \t]+)?)(?P<num>\+?\(?\d[\d \t()/.-]{{3,18}}\d{EXT})"
                        r"(?![\w-])")
PHONE_EXT = re.compile(r"\[phone\][ \t]*(?i:x|ext\.?|extension)[ \t]*\d{1,6}(?!\d)")
PHONE_LOCAL = re.compile(r"(?<![\w.,/:+-])[2-9]\d{2}[-.]\d{4}(?![\w-]|[.,]\d)")
UNIT_AFTER = re.compile(r"[ \t]?(?:[a-zA-Zµμ]{0,4}/|%|x[ \t]?10|(?i:mg|g|kg|mcg|µg|ug|ng|pg|mmol|umol|µmol|mol|meq|"
                        r"iu|u|units?|ml|l|dl|ul|µl|cells|copies|bp|kb|mb|ms|sec|min|h|hr|mm|cm|mmhg|bpm)\b)")
RANGE_BEFORE = re.compile(r"(?i)(?:\b(?:ref|reference|range|normal|between)\b[^,;]{0,12}|\()$")
SSN = re.compile(r"(?<![\w-])\d{3}(?P<s>[- ])\d{2}(?P=s)\d{4}(?![\w-])")
_N = r"(?:[ \t]*(?:number|num|no\.?|#|id))?"
ID_KEY = (rf"(?i:medical record{_N}|mr#|mr no\.?|hospital (?:number|no\.?|#|id)|chart{_N}|patient (?:id|number|no\.?|#)"
          rf"|pt id|account{_N}|acct\.?{_N}|billing(?: account| number| id)?|encounter (?:number|no\.?|#|id)|"
          rf"visit (?:number|no\.?|#|id)|ss#|social security{_N}|member{_N}|subscriber{_N}|policy{_N}|"
          rf"insurance{_N}|group (?:id|number|no\.?|#)|plan (?:id|number)|(?:health plan )?beneficiary{_N}|"
          rf"medicaid{_N}|medicare{_N}|claim{_N}|driver'?s licen[cs]e{_N}|licen[cs]e(?: plate)?{_N}|"
          rf"passport{_N}|(?:birth |death )?certificate{_N}|plate (?:number|no\.?|#)|tag (?:number|no\.?|#)|"
          rf"vehicle{_N}|serial{_N}|device(?: serial)?{_N}|accession{_N}|specimen{_N}|case (?:id|number|no\.?|#)|"
          rf"order (?:id|number|no\.?|#)|requisition{_N}|(?:reference|confirmation|badge) (?:number|no\.?|#)|"
          rf"employee (?:id|number|no\.?|#)|identifier|lot (?:number|no\.?|#)|model (?:number|no\.?|#)|"
          rf"imei|mac address)|MRN|SSN|DL|DEA|NPI|UPIN|TIN|EIN|VIN|FIN|CSN|HAR|MBI|UDI|S/N|SN|ID")
ID_VALUE = (r"(?:\(\d{2}\)[\w-]+)+|(?:[A-Z]{2,4}[ \t]+(?=\d))?(?=[\w/.-]*\d)[A-Za-z0-9][\w/.-]*[A-Za-z0-9]"
            r"(?:[ \t](?=[A-Za-z0-9-]*\d)[A-Za-z0-9][A-Za-z0-9-]{2,}(?![\w.-]*[ \t]*(?i:mg|kg|ml|%)))*")
KEYED_ID = re.compile(rf"(?P<key>\b(?:{ID_KEY})(?:\b|(?<=#))[ \t]*(?:(?i:number|no\.?|num|id)\b\.?)?[ \t]*[:#=]{{0,2}}[ \t]*"
                      rf"(?:(?i:is|of)[ \t]+)?)(?P<v>{ID_VALUE})(?![\w-])")
LICENCE = re.compile(r"(?P<key>\b(?:(?i:(?:driver|driving|operator|chauffeur)(?:'s|’s|s)?[ \t]+(?:lic(?:en[cs]e)?\.?|"
                     r"permit)|licen[cs]e\b)|DLN|OLN|CDL|DL\b)[^.;\n]{0,30}?)(?P<v>(?=[A-Z0-9-]*\d)(?:[A-Z0-9][A-Z0-9-]{4,}|"
                     r"[A-Z0-9]{3,4}(?=[ \t][A-Z0-9]*\d))"
                     r"(?:[ \t](?=[A-Z0-9]*\d)[A-Z0-9]{3,})*)(?![\w-])")
PLATE = re.compile(r"(?P<key>\b(?i:plate|tag)[ \t]*[#:]?[ \t]*)(?=[A-Z0-9-]*[A-Z])(?=[A-Z0-9-]*\d)[A-Z0-9][A-Z0-9-]{3,9}(?![\w-])")
BARE_ID = re.compile(r"(?<![\w.,:/#=+-])[A-Z]{0,4}-?\d{7,}[A-Z]?(?![\w-]|[.,]\d)")
DATABASE_BEFORE = re.compile(r"(?i)\b(?:pmid|pmcid|omim|mim|orpha(?:net)?|clinvar|vcv|rcv|hgnc|dbsnp|isbn|doi|"
                             r"chr\w*|rs|nm_|nc_|ng_|np_|hp|go|mondo|ncbi|gene id)\W{0,3}$")
