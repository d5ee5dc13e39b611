"""The offline storyteller's phrase book: sentence templates per story beat, in Korean and English,
and a small glossary that turns remembered words into English scene words for the illustrator.

Template syntax (rendered by ``storyteller.render``):
  ``{slot}``          a value (the loved one's name, a keyword, an anecdote...)
  ``{slot:은/는}``     the value followed by the particle its last sound needs (Korean only)
  ``[a|b|c]``         one of the alternatives, picked by the seeded random generator
Slots: full (순자 할머니 / Grandma Sunja), name, rel, call (순자 할머니 / 영숙아), child, kw, anecdote, traits,
and in English she/her/Her/She (pronouns from the relation).
"""
from __future__ import annotations

KO: dict[str, list[str]] = {
    "opening": [
        "[옛날 옛적|아주 먼 옛날은 아니고, 바로 얼마 전], {kw:이/가} 있는 작은 마을에 {full:이/가} 살았어요.",
        "[조용한|햇살 좋은|바람이 부드러운] 마을 끝자락에 {full:이/가} 살고 있었어요.",
        "{child:은/는} {full:을/를} 세상에서 제일 좋아했어요.",
        "사람들은 그분을 {name:이라고/라고} 불렀어요. {child:은/는} 그냥 {rel:이라고/라고} 불렀지요.",
        "{full:을/를} 떠올리면 [가장 먼저|언제나] {kw:이/가} 생각나요.",
        "{full:은/는} [이런 분이었어요|그런 분이었지요]: {traits}.",
        "이건 {full:과/와} {child:이/가} 함께 보낸 날들의 이야기예요.",
    ],
    "memory": [
        "[어느 날|그러던 어느 날|한번은] 이런 일이 있었어요. {anecdote}",
        "{child:은/는} 그날을 오래오래 기억했어요. {anecdote}",
        "{anecdote} {full:은/는} [빙그레|환하게|조용히] 웃었어요.",
        "{full:과/와} {child:은/는} {kw:을/를} 보러 [길을 나섰어요|손잡고 걸어갔어요].",
        "{kw:을/를} 보면 {full:이/가} [생각났어요|떠올랐어요]. 그곳에서 둘은 [한참을 놀았어요|이야기를 나누었어요].",
        "{full:은/는} {kw:을/를} [참 좋아했어요|누구보다 아꼈어요]. {child:도/도} 덩달아 좋아졌지요.",
        "{kw:이/가} [반짝이는|고요한|따스한] 날이면 {full:은/는} {child:을/를} 불렀어요. \"{child_call} 이리 오렴.\"",
        "{full:은/는} {kw:에/에} 얽힌 이야기를 [조곤조곤|천천히] 들려주었어요.",
        "그날 {child:은/는} {kw:을/를} 처음으로 [제대로 보았어요|마음에 담았어요].",
        "\"이것 좀 보렴.\" {full:이/가} {kw:을/를} 가리키며 [웃었어요|눈을 찡긋했어요].",
    ],
    "together": [
        "{full:은/는} 늘 [따뜻한 손으로|주름진 손으로] {child:의/의} 손을 잡아 주었어요.",
        "둘은 나란히 앉아 {kw:을/를} 바라보았어요. 아무 말이 없어도 좋았어요.",
        "{child:이/가} [넘어질 때면|속상할 때면] {full:이/가} 제일 먼저 달려왔어요.",
        "{full:은/는} [옛날이야기를|자장가를|재미있는 노래를] 들려주곤 했어요. {traits}, 그게 {rel:이었어요/였어요}.",
        "[봄이 가고 여름이 오고|계절이 몇 번이나 바뀌어도], {full:과/와} {child:은/는} 함께였어요.",
        "{child:은/는} {full:의/의} 웃음소리가 [참 좋았어요|세상에서 제일 좋았어요].",
    ],
    "trouble": [
        "그런데 어느 날, [하늘이 갑자기 어두워지고|차가운 바람이 불어오고] {child:은/는} 길을 잃고 말았어요.",
        "{kw:을/를} 찾으러 간 {child:은/는} [그만 발을 헛디뎠어요|너무 멀리 와 버렸어요].",
        "[후드득후드득|우르릉 쾅쾅] 비가 쏟아지자 {child:은/는} 무서워서 눈을 꼭 감았어요.",
        "{child:은/는} 소중한 물건을 잃어버려서 [훌쩍훌쩍 울었어요|마음이 쿵 내려앉았어요].",
        "{child:의/의} 마음에 [작은 먹구름이|걱정이] 잔뜩 끼었어요. {full:이/가} 어디 있는지 보이지 않았거든요.",
    ],
    "comfort": [
        "그때 익숙한 목소리가 들렸어요. \"{child_call} 괜찮아, 여기 있단다.\"",
        "{full:은/는} {child:을/를} 꼭 안아 주었어요. [따뜻한 품에서|포근한 품에서] 눈물이 멈췄어요.",
        "\"무서울 땐 {kw:을/를} 생각하렴.\" {full:이/가} [속삭였어요|말해 주었어요].",
        "{full:의/의} 손을 잡자 마음이 [사르르 녹았어요|다시 환해졌어요].",
        "둘은 천천히 집으로 돌아왔어요. 길 위에 [별빛이|달빛이|노을이] 내려앉았어요.",
    ],
    "closing": [
        "{child:은/는} 이제 {kw:을/를} 볼 때마다 {full:을/를} 떠올려요.",
        "{full:이/가} 남겨 준 [사랑은|웃음은|이야기는] 지금도 {child:의/의} 마음속에 살아 있어요.",
        "[밤하늘에 별이 반짝이면|바람이 살랑 불어오면] {child:은/는} 살며시 인사해요.",
    ],
    "farewell": ["{call}, 고마워요. [사랑해요|언제까지나 기억할게요]."],
    "also": ["[또 이런 날도 있었어요.|그리고 이런 일도 있었지요.] {anecdote}", "{anecdote} 그날도 참 좋았어요."],
}

EN: dict[str, list[str]] = {
    "opening": [
        "[Once upon a time|Not so long ago], in a little village with {kw_the}, there lived {full}.",
        "At the quiet end of a [sunny|windy|sleepy] lane lived {full}.",
        "{child_cap} loved {full} more than anyone in the whole wide world.",
        "Everyone called {her} {name}. {child_cap} just called {her} {rel}.",
        "Whenever {child} thought of {full}, {kw_the} came to mind [first|right away].",
        "{full_cap} was [that kind of person|someone you could never forget]: {traits}.",
        "This is the story of the days {full} and {child} spent together.",
    ],
    "memory": [
        "[One day|Once|One afternoon], something happened. {anecdote}",
        "{child_cap} remembered that day for a long, long time. {anecdote}",
        "{anecdote} {full_cap} [smiled a slow smile|laughed out loud|smiled quietly].",
        "{full_cap} and {child} set off together to see {kw_the}.",
        "{kw_the_cap} always made {child} think of {full}. There they [played for hours|talked about everything].",
        "{full_cap} [loved|treasured] {kw_the}, and so, little by little, did {child}.",
        "On [bright|still|warm] days near {kw_the}, {full} would call out, \"Come here, little one.\"",
        "{full_cap} told [old|funny|secret] stories about {kw_the}, [slowly|softly], one by one.",
        "That day, {child} really [saw|noticed] {kw_the} for the very first time.",
        "\"Look at this,\" said {full}, pointing at {kw_the} with a [smile|wink].",
    ],
    "together": [
        "{full_cap} always held {child}'s hand with [warm|gentle] fingers.",
        "They sat side by side and looked at {kw_the}. Nobody needed to say a word.",
        "Whenever {child} [fell down|felt sad], {full} was the first to come running.",
        "{She} told [old stories|lullabies|funny songs]. {traits_cap}: that was {full}.",
        "[Spring turned to summer|The seasons came and went], and {full} and {child} stayed together.",
        "{child_cap} loved the sound of {full} laughing more than any other sound.",
    ],
    "trouble": [
        "But one day, the sky [grew dark|turned grey] and {child} lost the way home.",
        "Looking for {kw_the}, {child} [slipped and fell|wandered much too far].",
        "[Pitter-patter|Crash, boom], down came the rain, and {child} shut both eyes tight.",
        "{child_cap} lost something precious and [cried and cried|felt a heavy heart].",
        "A little cloud of worry settled on {child}. {full_cap} was nowhere to be seen.",
    ],
    "comfort": [
        "Then a familiar voice called out: \"It's all right, little one. I'm right here.\"",
        "{full_cap} held {child} close. In that [warm|soft] hug the tears stopped.",
        "\"When you are scared, think of {kw_the},\" {full} [whispered|said softly].",
        "Holding {full}'s hand, {child} felt the fear [melt away|turn into light].",
        "Slowly they walked home together, with [starlight|moonlight|the sunset] on the path.",
    ],
    "closing": [
        "Now, whenever {child} sees {kw_the}, {child} remembers {full}.",
        "The [love|laughter] {full} gave still lives in {child}'s heart.",
        "[When the stars twinkle at night|When the wind blows softly], {child} whispers hello.",
    ],
    "farewell": ["Thank you, {call}. [I love you|I will always remember you]."],
    "also": ["[And there was another day, too.|There was this, too.] {anecdote}", "{anecdote} That was a good day, too."],
}

MOODS = {
    "opening": ["peaceful", "warm", "gentle"],
    "memory": ["joyful", "playful", "tender"],
    "together": ["cozy", "tender", "calm"],
    "trouble": ["worried", "stormy", "lonely"],
    "comfort": ["reassuring", "tender", "warm"],
    "closing": ["nostalgic", "hopeful", "gentle"],
}
POSES = {
    "opening": ["standing", "waving"],
    "memory": ["walking hand in hand", "sitting together", "reading together"],
    "together": ["sitting together", "reading together", "walking hand in hand"],
    "trouble": ["looking at the sky", "standing"],
    "comfort": ["hugging", "carrying a child"],
    "closing": ["looking at the sky", "waving", "sitting together"],
}
DEFAULT_SETTINGS = {
    "opening": ["a small village with an old wooden house", "a quiet lane at the edge of a village"],
    "memory": ["a sunny garden", "a village path"],
    "together": ["a cozy room with a warm lamp", "a wooden porch"],
    "trouble": ["a windy path under dark clouds", "a shadowy forest path in the rain"],
    "comfort": ["a warm room with a soft lamp", "a path home under the evening sky"],
    "closing": ["a hill under a starry night sky", "a garden at sunset"],
}
TONE_WORDS = {
    "gentle fairy tale": "soft watercolor fairy tale",
    "adventure": "bright adventurous",
    "lullaby": "dreamy moonlit lullaby",
    "funny": "playful cheerful",
    "everyday": "quiet everyday slice of life",
}

# Remembered words -> English scene words (Korean input still gets an English prompt).
GLOSSARY = {
    "감나무": "a persimmon tree", "감": "persimmons", "눈": "falling snow", "숲": "a forest", "밤": "night",
    "바다": "the seaside", "해변": "a beach", "부엌": "a cozy kitchen", "김치": "making kimchi",
    "꽃": "flowers", "시장": "a busy market", "텃밭": "a vegetable garden", "밭": "a field",
    "뜨개": "knitting", "비": "rain", "봄": "spring blossoms", "여름": "summer", "가을": "autumn leaves",
    "겨울": "winter", "달": "the moon", "별": "stars", "산": "mountains", "강": "a river",
    "나무": "a big tree", "고양이": "a cat", "강아지": "a puppy", "자전거": "a bicycle",
    "우산": "an umbrella", "떡": "rice cakes", "찌개": "a pot of stew", "노래": "singing",
    "책": "a picture book", "연": "a kite", "호수": "a lake", "다리": "a small bridge",
    "마당": "a courtyard", "마루": "a wooden veranda", "창문": "a window", "기차": "a train",
    "버스": "a country bus", "밥": "a warm meal", "국수": "noodles", "만두": "dumplings",
    "정원": "a garden", "공원": "a park",
    "논": "rice paddies", "바람": "a gentle wind", "구름": "clouds", "무지개": "a rainbow",
    "오두막": "a little cabin", "화분": "flower pots", "사진": "old photographs", "편지": "a letter",
    "눈사람": "a snowman", "썰매": "a sled", "모래": "sand", "조개": "seashells", "빵": "fresh bread",
}
VISUALS = {  # relation words -> how the loved one looks in every picture
    "할머니": "an elderly Korean grandmother", "grandma": "an elderly grandmother",
    "grandmother": "an elderly grandmother", "할아버지": "an elderly Korean grandfather",
    "grandpa": "an elderly grandfather", "grandfather": "an elderly grandfather",
    "엄마": "a Korean mother", "어머니": "a Korean mother", "mother": "a mother", "mom": "a mother",
    "아빠": "a Korean father", "아버지": "a Korean father", "father": "a father", "dad": "a father",
    "이모": "a kind aunt", "고모": "a kind aunt", "aunt": "a kind aunt", "삼촌": "a kind uncle",
    "uncle": "a kind uncle", "강아지": "a small fluffy dog", "dog": "a small fluffy dog",
    "고양이": "a soft tabby cat", "cat": "a soft tabby cat",
}
FEMININE = ("할머니", "엄마", "어머니", "이모", "고모", "언니", "누나", "grandma", "grandmother", "granny",
            "mother", "mom", "mum", "aunt", "sister", "nana")
MASCULINE = ("할아버지", "아빠", "아버지", "삼촌", "형", "오빠", "grandpa", "grandfather", "father", "dad",
             "uncle", "brother")
HAIR = ["short silver permed hair", "gray hair in a neat bun", "short white hair", "soft gray curls"]
CLOTHES = ["a lavender cardigan", "a cream knitted sweater", "a blue hanbok vest", "a green apron",
           "a warm brown coat", "a rose-colored blouse"]
CHILD_LOOKS = ["short black hair and round cheeks", "two little pigtails", "a bowl haircut and bright eyes"]
CHILD_CLOTHES = ["a yellow raincoat", "a red knitted hat", "striped overalls", "a sky-blue jumper"]

# One line for the opening and one before the farewell, so the tone is heard, not only seen.
TONE_LINES = {
    "ko": {
        "adventure": ("이건 {full:과/와} {child:이/가} 함께 떠난 작은 모험 이야기예요.",
                      "{child:은/는} 다음 모험을 기다리며 씩씩하게 웃었어요."),
        "lullaby": ("[쉿,|가만가만,] 눈을 감고 들어 보렴.", "이제 잘 자렴, 아가. {full:이/가} 꿈속에서도 곁에 있을 거야."),
        "funny": ("{full:은/는} 웃음 많은 [장난꾸러기였어요|재주꾼이었어요].",
                  "{child:은/는} 그때를 생각만 해도 [킥킥|깔깔] 웃음이 나요."),
        "everyday": ("이건 아주 평범하고 소중한 하루하루의 이야기예요.",
                     "오늘도 {child:은/는} 평범한 하루 속에서 {full:을/를} 만나요."),
    },
    "en": {
        "adventure": ("This is the story of a small adventure {full} and {child} set out on together.",
                      "{child_cap} grinned, ready for the next adventure."),
        "lullaby": ("[Hush now|Shh], close your eyes and listen.",
                    "Sleep tight, little one. {full_cap} is with you, even in your dreams."),
        "funny": ("{full_cap} was the [silliest|funniest] person in the whole village.",
                  "Just thinking about it still makes {child} [giggle|laugh out loud]."),
        "everyday": ("This is a story of ordinary, precious days.",
                     "Even today, on an ordinary day, {child} finds {full} everywhere."),
    },
}
