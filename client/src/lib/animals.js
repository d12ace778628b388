// Random names for new bots: three animals, easy to say and to type.

export const ANIMALS = [
  'Aardvark', 'Alpaca', 'Axolotl', 'Badger', 'Bandicoot', 'Beaver', 'Bilby', 'Bison',
  'Capybara', 'Cassowary', 'Cheetah', 'Chinchilla', 'Cockatoo', 'Crocodile', 'Dingo',
  'Dolphin', 'Dugong', 'Echidna', 'Emu', 'Falcon', 'Ferret', 'Flamingo', 'Gecko',
  'Gibbon', 'Giraffe', 'Hedgehog', 'Heron', 'Ibis', 'Iguana', 'Jackal', 'Jaguar',
  'Kangaroo', 'Kiwi', 'Koala', 'Kookaburra', 'Lemur', 'Llama', 'Lorikeet', 'Lynx',
  'Magpie', 'Manatee', 'Meerkat', 'Narwhal', 'Numbat', 'Ocelot', 'Octopus', 'Otter',
  'Owl', 'Panda', 'Pangolin', 'Pelican', 'Penguin', 'Platypus', 'Possum', 'Quokka',
  'Quoll', 'Raccoon', 'Seal', 'Sloth', 'Tapir', 'Tortoise', 'Toucan', 'Turtle',
  'Vulture', 'Walrus', 'Wallaby', 'Wombat', 'Yak', 'Zebra',
]

/** Three different animals run together, e.g. "QuokkaOtterEmu". */
export function randomBotName(random = Math.random) {
  const picked = []
  while (picked.length < 3) {
    let i = Math.floor(random() * ANIMALS.length) % ANIMALS.length
    while (picked.includes(ANIMALS[i])) i = (i + 1) % ANIMALS.length
    picked.push(ANIMALS[i])
  }
  return picked.join('')
}
