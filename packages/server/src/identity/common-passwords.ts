/**
 * The most common passwords, from the top of the public leaked-password
 * lists (RockYou, the SecLists "most common" lists, the yearly top-200
 * reports), plus a few words specific to this service (NIST asks for
 * those too). Attackers try these first in credential stuffing and
 * spraying, so NIST SP 800-63B §5.1.1.2 asks verifiers to refuse them.
 * Entries are lower case; `isCommonPassword` compares case-insensitively.
 *
 * Many entries are shorter than the minimum length (8) and are refused for
 * that anyway; they stay in the list so that it remains correct should a
 * policy ever allow them. The longer ones are what the check is for.
 */
const LIST = `
123456 password 12345678 qwerty 123456789 12345 1234 111111 1234567 dragon
123123 baseball abc123 football monkey letmein 696969 shadow master 666666
qwertyuiop 123321 mustang 1234567890 michael 654321 superman 1qaz2wsx 7777777 121212
000000 qazwsx 123qwe killer trustno1 jordan jennifer zxcvbnm asdfgh hunter
buster soccer harley batman andrew tigger sunshine iloveyou 2000 charlie
robert thomas hockey ranger daniel starwars klaster 112233 george computer
michelle jessica pepper 1111 zxcvbn 555555 11111111 131313 freedom 777777
pass maggie 159753 aaaaaa ginger princess joshua cheese amanda summer
love ashley nicole chelsea biteme matthew access yankees 987654321 dallas
austin thunder taylor matrix mobilemail mom monitor monitoring montana moon moscow
password1 password123 password12 password1234 passw0rd p@ssw0rd p@ssword pa55word pa55w0rd passwort
123456a 123456789a a123456 a12345678 qwerty123 qwerty1 qwerty12 qwerty1234 1q2w3e4r 1q2w3e4r5t
1q2w3e 1q2w3e4r5t6y q1w2e3r4 q1w2e3r4t5 zaq12wsx zaq1zaq1 1qazxsw2 qazwsxedc qweasdzxc asdfghjkl
asdf1234 asdfasdf abcd1234 abcdefg abcdef abc12345 aa123456 aa12345678 iloveyou1 iloveyou2
welcome welcome1 welcome123 admin admin123 admin1234 administrator root toor
login guest test test123 test1234 testing changeme letmein1 secret secret123
default 11223344 12341234 123454321 1234512345 12344321 147258369 123698745 159357 147852369
987654 9876543210 0987654321 1234qwer 12qwaszx 123abc 123456q 123456qwerty 123qweasd 1qaz2wsx3edc
00000000 88888888 99999999 22222222 12121212 11112222 55555555 66666666 87654321 98765432
sunshine1 princess1 football1 baseball1 monkey1 dragon1 shadow1 master1 superman1 batman1
charlie1 michael1 jordan23 jessica1 ashley1 nicole1 daniel1 hannah1 liverpool chelsea1
arsenal manchester barcelona realmadrid juventus iloveu iloveyou! loveme lovely loveyou
trustno1! whatever whatever1 nothing forever flower flowers butterfly purple orange
starwars1 pokemon pokemon1 minecraft fortnite roblox naruto cookie cookie1 chocolate
computer1 internet samsung apple123 google qwerty123456 microsoft windows linux ubuntu
letmein123 welcome2020 welcome2021 welcome2022 welcome2023 welcome2024 password2020 password2021
password2022 password2023 password2024 password2025 summer2020 summer2021 summer2022 summer2023
summer2024 winter2020 winter2021 winter2022 winter2023 winter2024 spring2023 autumn2023 fall2023
january february march april august september october november december monday
friday sunday football12 baseball12 hockey12 soccer12 basketball tennis golfer
jackson jasmine diamond silver golden yellow blessed blessing angel angels
heaven jesus jesus1 christ godisgood mother father family friends friend
banana orange1 peanut pepper1 tiger tigers lakers eagles cowboys steelers
yankees1 redsox dolphins packers ranger1 rangers hunter1 hunter2 killer1 hello
hello123 hello1 helloworld hellokitty babygirl babygirl1 sweety sweetie sweetheart lovers
mylove iloveyou123 qwert asdfg zxcvb 1234abcd abcd123 abc123456 aaaaaaaa 11111
1111111 111111111 1111111111 12345678910 123456789101 0123456789 01234567 112233445566 121314
qweqwe qweqweqwe asdasd zxczxc qwerasdf zxcvbnm1 qwertyu qwertyui 1qazxsw23edc 123qwe123
superstar rockstar starstar michael23 jordan1 mercedes ferrari porsche corvette mustang1
dakota yamaha harley1 suzuki bulldog doggie puppy kitten kitty pussycat
snoopy scooter buddy bandit max maxwell lucky lucky1 lucky7 smokey
zxcvbnm123 passpass password! password1! password01 passcode password11 password99 abcdefgh
default1 letmeinnow accessdenied admin1 administrator1 root123 rootroot system manager
secret1 mysecret private qazxswedc 1q1q1q1q 2wsx3edc 3edc4rfv zaq1xsw2 q1w2e3r4t5y6
tessera tessera123 identity openid oauth oauth2 password! p@ssw0rd1 p@ssword1 passw0rd1
`;

const COMMON = new Set(LIST.split(/\s+/).filter(Boolean));

/** How many distinct entries the list holds (for tests and documentation). */
export const COMMON_PASSWORD_COUNT = COMMON.size;

/** True when `password` (compared case-insensitively, after Unicode NFKC) is on the list. */
export function isCommonPassword(password: string): boolean {
  return COMMON.has(password.normalize('NFKC').toLowerCase());
}
