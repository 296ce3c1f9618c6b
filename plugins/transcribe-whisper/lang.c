/* Language names and codes; see lang.h. */
#include "lang.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* The languages Whisper knows, by the English names its servers report
 * them with, and the codes it takes (Whisper's own: "jw" for Javanese). */
static const struct { const char *name, *code; } names[] = {
	{"english", "en"}, {"chinese", "zh"}, {"german", "de"}, {"spanish", "es"},
	{"russian", "ru"}, {"korean", "ko"}, {"french", "fr"}, {"japanese", "ja"},
	{"portuguese", "pt"}, {"turkish", "tr"}, {"polish", "pl"}, {"catalan", "ca"},
	{"dutch", "nl"}, {"arabic", "ar"}, {"swedish", "sv"}, {"italian", "it"},
	{"indonesian", "id"}, {"hindi", "hi"}, {"finnish", "fi"}, {"vietnamese", "vi"},
	{"hebrew", "he"}, {"ukrainian", "uk"}, {"greek", "el"}, {"malay", "ms"},
	{"czech", "cs"}, {"romanian", "ro"}, {"danish", "da"}, {"hungarian", "hu"},
	{"tamil", "ta"}, {"norwegian", "no"}, {"thai", "th"}, {"urdu", "ur"},
	{"croatian", "hr"}, {"bulgarian", "bg"}, {"lithuanian", "lt"}, {"latin", "la"},
	{"maori", "mi"}, {"malayalam", "ml"}, {"welsh", "cy"}, {"slovak", "sk"},
	{"telugu", "te"}, {"persian", "fa"}, {"latvian", "lv"}, {"bengali", "bn"},
	{"serbian", "sr"}, {"azerbaijani", "az"}, {"slovenian", "sl"}, {"kannada", "kn"},
	{"estonian", "et"}, {"macedonian", "mk"}, {"breton", "br"}, {"basque", "eu"},
	{"icelandic", "is"}, {"armenian", "hy"}, {"nepali", "ne"}, {"mongolian", "mn"},
	{"bosnian", "bs"}, {"kazakh", "kk"}, {"albanian", "sq"}, {"swahili", "sw"},
	{"galician", "gl"}, {"marathi", "mr"}, {"punjabi", "pa"}, {"sinhala", "si"},
	{"khmer", "km"}, {"shona", "sn"}, {"yoruba", "yo"}, {"somali", "so"},
	{"afrikaans", "af"}, {"occitan", "oc"}, {"georgian", "ka"}, {"belarusian", "be"},
	{"tajik", "tg"}, {"sindhi", "sd"}, {"gujarati", "gu"}, {"amharic", "am"},
	{"yiddish", "yi"}, {"lao", "lo"}, {"uzbek", "uz"}, {"faroese", "fo"},
	{"haitian creole", "ht"}, {"pashto", "ps"}, {"turkmen", "tk"}, {"nynorsk", "nn"},
	{"maltese", "mt"}, {"sanskrit", "sa"}, {"luxembourgish", "lb"}, {"myanmar", "my"},
	{"tibetan", "bo"}, {"tagalog", "tl"}, {"malagasy", "mg"}, {"assamese", "as"},
	{"tatar", "tt"}, {"hawaiian", "haw"}, {"lingala", "ln"}, {"hausa", "ha"},
	{"bashkir", "ba"}, {"javanese", "jw"}, {"sundanese", "su"}, {"cantonese", "yue"},
	/* Other names Whisper accepts for some of them. */
	{"burmese", "my"}, {"valencian", "ca"}, {"flemish", "nl"}, {"haitian", "ht"},
	{"letzeburgesch", "lb"}, {"pushto", "ps"}, {"panjabi", "pa"}, {"moldavian", "ro"},
	{"moldovan", "ro"}, {"sinhalese", "si"}, {"castilian", "es"}, {"mandarin", "zh"},
};

static bool letters(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isalpha((unsigned char)s[i]))
			return false;
	return true;
}

bool wh_lang_ok(const char *tag)
{
	size_t n = strcspn(tag, "-_");
	if (n < 2 || n > 3 || !letters(tag, n))
		return false;
	for (const char *p = tag + n; *p;) {
		p++; /* the separator */
		size_t m = strcspn(p, "-_");
		if (m < 2 || m > 8)
			return false;
		for (size_t i = 0; i < m; i++)
			if (!isalnum((unsigned char)p[i]))
				return false;
		p += m;
	}
	return true;
}

void wh_lang_request(const char *tag, char *buf, size_t size)
{
	size_t n = strcspn(tag, "-_"), i;
	for (i = 0; i < n && i + 1 < size; i++)
		buf[i] = (char)tolower((unsigned char)tag[i]);
	buf[i] = '\0';
}

void wh_lang_code(const char *reported, char *buf, size_t size)
{
	for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
		if (strcasecmp(reported, names[i].name) == 0) {
			snprintf(buf, size, "%s", names[i].code);
			return;
		}
	}
	size_t n = strlen(reported);
	if (n >= 2 && n <= 3 && letters(reported, n)) {
		wh_lang_request(reported, buf, size);
		return;
	}
	snprintf(buf, size, "%s", reported);
}
