#!/usr/bin/python3
"""Writes common-passwords.txt beside this file (see its header for what it holds)."""
import itertools
import os

bases = """123456 password 12345678 qwerty 123456789 12345 1234 111111 1234567 dragon 123123 baseball abc123
football monkey letmein 696969 shadow master 666666 qwertyuiop 123321 mustang 1234567890 michael 654321 superman
1qaz2wsx 7777777 121212 000000 qazwsx 123qwe killer trustno1 jordan jennifer zxcvbnm asdfgh hunter buster soccer
harley batman andrew tigger sunshine iloveyou charlie robert thomas hockey ranger daniel starwars klaster 112233
george computer michelle jessica pepper 1111 zxcvbn 555555 11111111 131313 freedom 777777 pass maggie 159753
aaaaaa ginger princess joshua cheese amanda summer love ashley nicole chelsea biteme matthew access yankees
987654321 dallas austin thunder taylor matrix william corvette hello martin heather secret merlin diamond 1234qwer
gfhjkm hammer silver 222222 88888888 anthony justin test bailey q1w2e3r4t5 patrick internet scooter orange 11111
golfer cookie richard samantha bigdog guitar jackson whatever mickey chicken sparky snoopy maverick phoenix camaro
peanut morgan welcome falcon cowboy ferrari samsung andrea smokey steelers joseph mercedes dakota arsenal eagles
melissa boomer booboo spider nascar monster tigers yellow xxxxxx 123123123 gateway marina diablo bulldog qwer1234
compaq purple hardcore banana junior hannah 123654 porsche lakers iceman money cowboys 987654 london tennis 999999
ncc1701 coffee scooby 0000 miller boston q1w2e3r4 brandon yamaha chester mother forever johnny edward 333333 oliver
redsox player nikita knight fender barney midnight please brandy chicago badboy slayer rangers charles angel flower
bigdaddy rabbit wizard jasper enter rachel chris steven winner adidas victoria natasha 1q2w3e4r jasmine winter
prince marine ghbdtn fishing cocacola casper james 232323 raiders 888888 marlboro gandalf asdfasdf crystal
87654321 12344321 golden 8675309 sexy angels vampire 1q2w3e 55555 qwert zaq12wsx mylove 654321 alexander
sophie valentina loveyou baby password1 lovely welcome1 admin admin123 root toor letmein1 iloveu qwerty123 qwertyui
asdfghjkl zxcvbnm1 1qazxsw2 zaq1xsw2 qazwsxedc 1q2w3e4r5t 1q2w3e4r5t6y q1w2e3 a1b2c3 abcd1234 abcdef abcdefg
abcdefgh aa123456 asd123 qwe123 qweasd qweasdzxc 147258369 147258 159357 741852963 789456123 789456 456789 246810
135790 102030 101010 123abc abc12345 pass123 pass1234 passw0rd p@ssw0rd p@ssword passwort motdepasse contraseña
senha parola wachtwoord salasana haslo heslo jelszo lozinka sifre parool 1password mypassword changeme default
guest user login administrator manager office server oracle mysql postgres database system backup support service
secret1 secret123 superuser supervisor private public temp temp123 test123 testing tester demo sample example
letmein123 trustme believe faith hope grace peace blessed jesus christ god heaven angel1 angels1 church bible
family friends friend lucky lucky7 happy smile sunshine1 rainbow butterfly flowers beautiful pretty cute sweet
sweetheart honey sugar candy cupcake chocolate cookie1 pizza burger banana1 apple orange1 cherry strawberry
mango lemon peach pumpkin tomato potato summer1 spring autumn winter1 january february march april may june july
august september october november december monday tuesday friday sunday weekend holiday vacation christmas easter
football1 baseball1 basketball soccer1 hockey1 tennis1 golf volleyball rugby cricket boxing wrestling skate surf
snowboard racing motocross chelsea1 liverpool manchester arsenal1 barcelona realmadrid juventus milan bayern
united city rangers1 celtic dragons tigers1 lions bears eagles1 hawks falcons wolves panthers raiders1 cowboys1
yankees1 redsox1 lakers1 bulls celtics warriors giants jets dolphins patriots packers steelers1 broncos chargers
vikings saints ravens bengals titans texans colts jaguars chiefs seahawks cardinals rams niners buccaneers
pokemon pikachu naruto sasuke goku vegeta dragonball onepiece zelda mario luigi sonic minecraft fortnite roblox
warcraft starcraft diablo1 halo xbox playstation nintendo gamer gaming
batman1 superman1 spiderman ironman hulk thor captain avengers marvel wolverine deadpool joker harleyquinn
starwars1 skywalker jedi yoda vader chewbacca hobbit frodo gandalf1 legolas hogwarts harrypotter hermione
matrix1 neo trinity morpheus terminator predator alien rocky rambo scarface godfather titanic
michael1 jennifer1 jessica1 ashley1 amanda1 daniel1 david christopher joshua1 matthew1 andrew1 james1 justin1
robert1 john william1 brandon1 jonathan nicholas ryan tyler alexander1 kevin jacob zachary anthony1 eric kyle
steven1 thomas1 jordan1 austin1 benjamin samuel adam nathan aaron charles1 jason brian sarah emily elizabeth
megan hannah1 lauren rachel1 stephanie samantha1 nicole1 amber danielle heather1 melissa1 rebecca kayla tiffany
victoria1 courtney alexis jasmine1 brittany chelsea2 christina natalie anna maria mary linda patricia barbara
susan margaret dorothy lisa nancy karen betty helen sandra donna carol ruth sharon michelle1 laura kimberly
deborah angela sophia olivia isabella emma mia ava abigail madison charlotte harper evelyn amelia ella
natasha1 tatiana svetlana olga irina elena anastasia marina1 ekaterina dmitry sergey andrey alexey maxim ivan
vladimir nikolai mikhail pavel roman artem denis igor oleg yuri victor boris
qwertyui1 asdfghjk zxcvbnm123 1qaz2wsx3edc qazxswedc zaq1zaq1 1qaz1qaz 2wsx3edc !qaz2wsx 1qaz@wsx
qwertyuiop123 poiuytrewq lkjhgfdsa mnbvcxz asdfjkl qwerasdf qweqweqwe asdasdasd zxczxczxc 123qweasd
1q2w3e4r5t6y7u8i 1a2b3c4d q1w2e3r4t5y6 ytrewq trewq 0987654321 09876543 1029384756 5432167890
aaaaaaaa bbbbbbbb cccccccc dddddddd eeeeeeee ffffffff gggggggg zzzzzzzz xxxxxxxx qqqqqqqq wwwwwwww
11111111 22222222 33333333 44444444 55555555 66666666 77777777 88888888 99999999 00000000 12121212
1234512345 1122334455 1212121212 1111111111 0123456789 01234567 012345678 123456789a 12345678a 1234567a
a123456789 a12345678 a1234567 q12345678 qwerty12 qwerty1234 qwerty12345 asdf1234 zxcv1234 1234asdf
iloveyou1 iloveyou2 iloveyou123 iloveme loveme lovers lover lovelove loveyou1 iloveyou! babygirl babyboy
princess1 princesa angel123 mybaby mylove1 myangel sweetie darling honey1 forever1 always together
hellokitty hello123 hello1 helloworld welcome123 welcome2 goodbye goodluck whatever1 nothing something
anything everything someone nobody everybody freedom1 liberty america usa canada england france germany
italy spain mexico brazil russia china japan india australia ireland scotland london1 paris berlin
newyork chicago1 boston1 dallas1 houston miami seattle denver phoenix1 atlanta detroit toronto vancouver
sydney melbourne tokyo moscow
computer1 internet1 laptop desktop keyboard mouse monitor windows linux ubuntu apple1 macintosh iphone
android samsung1 google facebook twitter instagram youtube yahoo hotmail gmail outlook microsoft
mustang1 corvette1 camaro1 ferrari1 porsche1 mercedes1 bmw audi toyota honda nissan ford chevy dodge jeep
harley1 yamaha1 ducati kawasaki suzuki
killer1 hunter1 shadow1 master1 dragon1 monkey1 tigger1 buster1 pepper1 ginger1 maggie1 cookie2 charlie1
rocky1 lucky1 max bella lucy daisy molly sadie bailey1 buddy duke bear toby jack chloe zoe lily coco
princess2 snoopy1 scooby1 garfield simba nala pumba tinkerbell barbie kitty kitten puppy doggy fluffy
whiskers smokey1 shadow2 midnight1 thunder1 lightning storm hurricane tornado blizzard
blue red green yellow1 purple1 pink black white orange2 silver1 golden1 diamond1 crystal1 emerald ruby
sapphire pearl
""".split()
suffixes = ["", "1", "2", "3", "7", "12", "13", "21", "22", "23", "69", "77", "88", "99", "00", "01", "11",
            "123", "1234", "12345", "123456", "321", "111", "000", "007", "666", "777", "!", "1!", "12!", "123!",
            "!!", "@", "@123", "#1", "$", "?", "."]
years = [str(y) for y in range(1960, 2031)]
out = set()
def add(w):
    w = w.lower()
    if 8 <= len(w) <= 128:
        out.add(w)
for i, b in enumerate(bases):
    for s in suffixes + (years[20:66] if i < 150 else []):
        add(b + s)
        add(s + b) if s in ("1", "123", "!", "@") else None
    add(b + b)
    # leet
    leet = b.replace("a", "@").replace("o", "0").replace("e", "3").replace("i", "1").replace("s", "$")
    add(leet); add(leet + "1"); add(leet + "123"); add(leet + "!")
    add(b.replace("a", "4").replace("e", "3").replace("o", "0"))
# digit runs and repeats
for n in range(8, 13):
    add("".join(str((i + 1) % 10) for i in range(n)))
    add("".join(str((9 - i) % 10) for i in range(n)))
for d in "0123456789":
    for n in range(8, 13):
        add(d * n)
for a, b in itertools.permutations("0123456789", 2):
    add((a + b) * 4); add((a + b) * 5)
# dates ddmmyyyy / mmddyyyy for common years? keep small: 01011990-like
for y in range(1970, 2011):
    for m in (1, 12):
        for d in (1, 12):
            add("%02d%02d%d" % (d, m, y))
words = sorted(out, key=lambda w: w.encode())
HEADER = """# Common passwords that mentis-auth refuses (400 weak_password), compared
# case-insensitively: lower-case, one a line, 8 to 128 bytes (shorter ones fail the length
# rule anyway), sorted bytewise. Lines starting with '#' are comments.
# Generated by common-passwords.py beside this file: the most frequent passwords of public
# breach compilations with the suffixes, years, doublings and letter substitutions people
# add to them. Compiled into the binary (service.cmake, data/embed.cmake).
"""
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "common-passwords.txt")
with open(path, "w", encoding="utf-8") as f:
    f.write(HEADER + "".join(w + "\n" for w in words))
print(len(words), "passwords written to", path)
