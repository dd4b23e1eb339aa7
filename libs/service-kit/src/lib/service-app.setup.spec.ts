import { Body, Controller, Module, Post } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { IsString } from 'class-validator';
import request from 'supertest';

import { configureServiceApp } from './service-app.setup';

class NoteDto {
  @IsString()
  text!: string;
}

@Controller('notes')
class NotesController {
  @Post()
  create(@Body() note: NoteDto): NoteDto {
    return note;
  }
}

@Module({ controllers: [NotesController] })
class NotesModule {}

describe('configureServiceApp', () => {
  it('serves under /api, refuses unknown fields and answers errors as { statusCode, message }', async () => {
    const moduleRef = await Test.createTestingModule({ imports: [NotesModule] }).compile();
    const app = configureServiceApp(moduleRef.createNestApplication({ logger: false }));
    await app.init();
    const http = app.getHttpServer();

    await request(http).post('/api/notes').send({ text: 'hi' }).expect(201, { text: 'hi' });
    const refused = await request(http).post('/api/notes').send({ text: 'hi', admin: true });
    expect(refused.status).toBe(400);
    expect(refused.body).toEqual({ statusCode: 400, message: 'property admin should not exist' });
    await request(http).post('/notes').send({ text: 'hi' }).expect(404);
    await app.close();
  });
});
